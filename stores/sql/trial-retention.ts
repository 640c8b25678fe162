import { migrate, type Migration, type SqlClient } from '../../kernel/sql.js';
import type { RetentionAction, TrialRetentionSetting, TrialRetentionState, TrialRetentionStore } from '../../kernel/trial-retention.js';

/**
 * Each trial's retention (kernel/trial-retention.ts), with its own migration ledger so
 * its numbering never collides with the registry's. The setting is JSON with only the
 * keys the trial sets (an absent key takes the hub's default, null is never); what was
 * done is in columns, so the schedule's state survives a restart in the database.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'trial retention',
    statements: [
      `CREATE TABLE IF NOT EXISTS trial_retention (
        trial_id TEXT PRIMARY KEY,
        setting TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        closed_at BIGINT,
        archived_at BIGINT,
        archived_points BIGINT,
        deleted_at BIGINT,
        deleted_points BIGINT
      )`,
    ],
  },
];

interface Row {
  trial_id: string;
  setting: string;
  closed_at: number | null;
  archived_at: number | null;
  archived_points: number | null;
  deleted_at: number | null;
  deleted_points: number | null;
}
const COLUMNS = 'trial_id, setting, closed_at, archived_at, archived_points, deleted_at, deleted_points';
const num = (v: number | null): number | null => (v === null ? null : Number(v));
const toState = (r: Row): TrialRetentionState => ({
  trialId: r.trial_id,
  setting: JSON.parse(r.setting) as TrialRetentionSetting,
  closedAt: num(r.closed_at),
  archivedAt: num(r.archived_at),
  archivedPoints: num(r.archived_points),
  deletedAt: num(r.deleted_at),
  deletedPoints: num(r.deleted_points),
});

export async function openTrialRetention(sql: SqlClient, now: () => number = Date.now): Promise<TrialRetentionStore> {
  await migrate(sql, MIGRATIONS, 'trial_retention_migrations', now);
  const get = async (trialId: string, tx: SqlClient = sql): Promise<TrialRetentionState | undefined> => {
    const [row] = await tx.query<Row>(`SELECT ${COLUMNS} FROM trial_retention WHERE trial_id = $1`, [trialId]);
    return row && toState(row);
  };
  /** Changes the trial's row, made first (no setting of its own) if it has none. */
  const update = (trialId: string, at: number, set: string, params: unknown[]): Promise<void> =>
    sql.transaction(async (tx) => {
      if (!(await get(trialId, tx))) await tx.query(`INSERT INTO trial_retention (trial_id, setting, updated_at) VALUES ($1, '{}', $2)`, [trialId, at]);
      await tx.query(`UPDATE trial_retention SET ${set}, updated_at = $2 WHERE trial_id = $1`, [trialId, at, ...params]);
    });
  return {
    async list() {
      return (await sql.query<Row>(`SELECT ${COLUMNS} FROM trial_retention ORDER BY trial_id`)).map(toState);
    },
    get: (trialId) => get(trialId),
    async setSetting(trialId, setting, at) {
      const own = Object.fromEntries(Object.entries(setting).filter(([, v]) => v !== undefined));
      await update(trialId, at, 'setting = $3', [JSON.stringify(own)]);
      return (await get(trialId))!;
    },
    async recordClosed(trialId, at) {
      await update(trialId, at, 'closed_at = COALESCE(closed_at, $3)', [at]);
    },
    async recordDone(trialId, action: RetentionAction, at, points) {
      await update(trialId, at, action === 'archive' ? 'archived_at = $3, archived_points = $4' : 'deleted_at = $3, deleted_points = $4', [at, points]);
    },
  };
}
