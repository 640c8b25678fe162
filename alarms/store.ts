import type { Alarm, AlarmQuery, FluidTarget, FluidTargetChange, ParticipantAlarmSettings } from '../kernel/alarms.js';
import { migrate, type Migration, type SqlClient } from '../kernel/sql.js';
import { RULE_EVENTS, type HubRule } from './rules/codes.js';
import type { DeviceMemory } from './rules/types.js';

/**
 * The alarm engine's tables, all prefixed alarm_, with their own migration list so they
 * never collide with the registry's numbering; the registry's runner applies them with its
 * own ledger table, alarm_migrations (kernel/sql.ts). Portable SQL
 * on the SqlClient port (DuckDB and PostgreSQL). Each row's JSON body is the truth; the
 * other columns exist to filter on.
 */

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'alarms, participant settings, device state, engine marks',
    statements: [
      `CREATE TABLE IF NOT EXISTS alarm_alarms (
        id TEXT PRIMARY KEY,
        alarm_key TEXT NOT NULL,
        state TEXT NOT NULL,
        site_id TEXT,
        participant_id TEXT,
        raised_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL,
        body TEXT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS alarm_settings (
        participant_id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL,
        updated_at BIGINT NOT NULL,
        body TEXT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS alarm_devices (
        device_id TEXT PRIMARY KEY,
        updated_at BIGINT NOT NULL,
        body TEXT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS alarm_meta (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'history of the fluid-balance targets',
    statements: [
      `CREATE TABLE IF NOT EXISTS alarm_fluid_targets (
        participant_id TEXT NOT NULL,
        valid_from BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (participant_id, valid_from)
      )`,
    ],
  },
];

export async function migrateAlarmTables(sql: SqlClient, now: number): Promise<void> {
  await migrate(sql, MIGRATIONS, 'alarm_migrations', () => now);
  // Settings stored before the history was kept: their target holds at least since they were set.
  await sql.transaction(async (tx) => {
    const known = new Set((await tx.query<{ participant_id: string }>('SELECT DISTINCT participant_id FROM alarm_fluid_targets')).map((r) => r.participant_id));
    for (const s of await loadSettings(tx)) if (!known.has(s.participantId)) await insertTarget(tx, targetChangeOf(s));
  });
}

/** alarm_meta: the receipt time up to which every point's alarms are stored. */
export const MARK = 'evaluatedUntil';

const bodies = <T>(rows: { body: string }[]): T[] => rows.map((r) => JSON.parse(r.body) as T);

/**
 * An alarm stored before alarms named their catalogue event reports the device event its
 * detail names, else its rule's (all such rules are the hub's own).
 */
const alarmBodies = (rows: { body: string }[]): Alarm[] =>
  bodies<Alarm | (Omit<Alarm, 'event' | 'rule'> & { rule: HubRule; event?: undefined })>(rows).map((a) =>
    a.event === undefined ? { ...a, event: typeof a.detail.event === 'string' ? a.detail.event : RULE_EVENTS[a.rule] } : a,
  );

export async function upsertAlarm(sql: SqlClient, a: Alarm): Promise<void> {
  await sql.query(
    `INSERT INTO alarm_alarms (id, alarm_key, state, site_id, participant_id, raised_at, updated_at, body)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at, body = excluded.body`,
    [a.id, a.key, a.state, a.siteId, a.participantId, a.raisedAt, a.updatedAt, JSON.stringify(a)],
  );
}

/** Open alarms, and closed ones changed since `since` (to recognise redeliveries and once-a-day keys). */
export async function loadAlarms(sql: SqlClient, since: number): Promise<Alarm[]> {
  return alarmBodies(await sql.query(`SELECT body FROM alarm_alarms WHERE state IN ('raised', 'acknowledged') OR updated_at >= $1`, [since]));
}

export async function getAlarm(sql: SqlClient, id: string): Promise<Alarm | undefined> {
  return alarmBodies(await sql.query('SELECT body FROM alarm_alarms WHERE id = $1', [id]))[0];
}

export async function queryAlarms(sql: SqlClient, q: AlarmQuery): Promise<Alarm[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const list = (values: readonly string[]) => values.map((v) => `$${params.push(v)}`).join(', ');
  if (q.siteIds) where.push(q.siteIds.length === 0 ? 'FALSE' : `site_id IN (${list(q.siteIds)})`);
  if (q.states) where.push(q.states.length === 0 ? 'FALSE' : `state IN (${list(q.states)})`);
  const limit = `$${params.push(q.limit ?? 100)}`;
  const sql_ = `SELECT body FROM alarm_alarms ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY raised_at DESC, id LIMIT ${limit}`;
  return alarmBodies(await sql.query(sql_, params));
}

const targetChangeOf = (s: ParticipantAlarmSettings): FluidTargetChange => ({
  participantId: s.participantId,
  validFrom: s.updatedAt,
  fluid: s.fluid,
  weight: s.weight,
  setBy: s.updatedBy,
});
const sameTarget = (a: FluidTarget, b: FluidTarget): boolean =>
  JSON.stringify([a.fluid.windowH, a.fluid.maxNetGainMl, a.fluid.maxNetLossMl, a.weight.targetKg, a.weight.maxGainKg]) ===
  JSON.stringify([b.fluid.windowH, b.fluid.maxNetGainMl, b.fluid.maxNetLossMl, b.weight.targetKg, b.weight.maxGainKg]);

/** Two changes in the same millisecond: the later one is the one that held. */
async function insertTarget(sql: SqlClient, c: FluidTargetChange): Promise<void> {
  await sql.query(
    `INSERT INTO alarm_fluid_targets (participant_id, valid_from, body) VALUES ($1, $2, $3)
     ON CONFLICT (participant_id, valid_from) DO UPDATE SET body = excluded.body`,
    [c.participantId, c.validFrom, JSON.stringify(c)],
  );
}

/** The settings, and a new entry in the target's history when the target changed. */
export async function upsertSettings(sql: SqlClient, s: ParticipantAlarmSettings): Promise<void> {
  await sql.transaction(async (tx) => {
    await tx.query(
      `INSERT INTO alarm_settings (participant_id, site_id, updated_at, body) VALUES ($1, $2, $3, $4)
       ON CONFLICT (participant_id) DO UPDATE SET site_id = excluded.site_id, updated_at = excluded.updated_at, body = excluded.body`,
      [s.participantId, s.siteId, s.updatedAt, JSON.stringify(s)],
    );
    const [last] = bodies<FluidTargetChange>(
      await tx.query('SELECT body FROM alarm_fluid_targets WHERE participant_id = $1 ORDER BY valid_from DESC LIMIT 1', [s.participantId]),
    );
    if (!last || !sameTarget(last, s)) await insertTarget(tx, targetChangeOf(s));
  });
}

export async function loadFluidTargets(sql: SqlClient, participantIds: readonly string[]): Promise<FluidTargetChange[]> {
  if (participantIds.length === 0) return [];
  const list = participantIds.map((_, i) => `$${i + 1}`).join(', ');
  return bodies<FluidTargetChange>(
    await sql.query(`SELECT body FROM alarm_fluid_targets WHERE participant_id IN (${list}) ORDER BY participant_id, valid_from`, [...participantIds]),
  );
}

export const loadSettings = async (sql: SqlClient): Promise<ParticipantAlarmSettings[]> =>
  bodies<ParticipantAlarmSettings>(await sql.query('SELECT body FROM alarm_settings'));

export async function upsertDevice(sql: SqlClient, m: DeviceMemory, now: number): Promise<void> {
  await sql.query(
    `INSERT INTO alarm_devices (device_id, updated_at, body) VALUES ($1, $2, $3)
     ON CONFLICT (device_id) DO UPDATE SET updated_at = excluded.updated_at, body = excluded.body`,
    [m.deviceId, now, JSON.stringify(m)],
  );
}

export const loadDevices = async (sql: SqlClient): Promise<DeviceMemory[]> => bodies<DeviceMemory>(await sql.query('SELECT body FROM alarm_devices'));

export async function getMeta(sql: SqlClient, name: string): Promise<string | undefined> {
  const [row] = await sql.query<{ value: string }>('SELECT value FROM alarm_meta WHERE name = $1', [name]);
  return row?.value;
}

export async function setMeta(sql: SqlClient, name: string, value: string): Promise<void> {
  await sql.query('INSERT INTO alarm_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value', [name, value]);
}

/** Erasure: the participant's alarms, settings and target history go; returns how many alarms. */
export async function eraseParticipantAlarms(sql: SqlClient, participantId: string): Promise<number> {
  return sql.transaction(async (tx) => {
    const [row] = await tx.query<{ n: number }>('SELECT COUNT(*) AS n FROM alarm_alarms WHERE participant_id = $1', [participantId]);
    await tx.query('DELETE FROM alarm_alarms WHERE participant_id = $1', [participantId]);
    await tx.query('DELETE FROM alarm_settings WHERE participant_id = $1', [participantId]);
    await tx.query('DELETE FROM alarm_fluid_targets WHERE participant_id = $1', [participantId]);
    return Number(row?.n ?? 0);
  });
}
