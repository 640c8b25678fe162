import type { ConformanceReport, ConformanceRun, ConformanceRuns, RunStatus } from '../../kernel/conformance.js';
import { migrate, type Migration } from './migrations.js';
import type { SqlClient } from './sql-client.js';

/**
 * Conformance runs, with their own migration list and ledger (conformance_run_migrations),
 * so their numbering never collides with the registry's. The report is kept as JSON
 * text: it is read whole, never queried inside. It holds no participant's data
 * (conformance/observations.ts), so erasure has nothing to do here.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'conformance runs',
    statements: [
      `CREATE TABLE IF NOT EXISTS conformance_runs (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        vendor_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        profile_version TEXT NOT NULL,
        hub_version TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ends_at BIGINT NOT NULL,
        ended_at BIGINT,
        started_by TEXT NOT NULL,
        note TEXT,
        report TEXT
      )`,
    ],
  },
];

interface Row {
  id: string;
  device_id: string;
  vendor_id: string;
  profile_id: string;
  profile_version: string;
  hub_version: string;
  status: string;
  started_at: number | bigint;
  ends_at: number | bigint;
  ended_at: number | bigint | null;
  started_by: string;
  note: string | null;
  report: string | null;
}
const COLUMNS = 'id, device_id, vendor_id, profile_id, profile_version, hub_version, status, started_at, ends_at, ended_at, started_by, note, report';
const toRun = (r: Row): ConformanceRun => ({
  id: r.id,
  deviceId: r.device_id,
  vendorId: r.vendor_id,
  profileId: r.profile_id,
  profileVersion: r.profile_version,
  hubVersion: r.hub_version,
  status: r.status as RunStatus,
  startedAt: Number(r.started_at),
  endsAt: Number(r.ends_at),
  endedAt: r.ended_at === null ? null : Number(r.ended_at),
  startedBy: r.started_by,
  note: r.note,
  report: r.report === null ? null : (JSON.parse(r.report) as ConformanceReport),
});

export async function openConformanceRuns(sql: SqlClient): Promise<ConformanceRuns> {
  await migrate(sql, Date.now, MIGRATIONS, 'conformance_run_migrations');
  return {
    async create(run) {
      await sql.query(`INSERT INTO conformance_runs (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, [
        run.id,
        run.deviceId,
        run.vendorId,
        run.profileId,
        run.profileVersion,
        run.hubVersion,
        run.status,
        run.startedAt,
        run.endsAt,
        run.endedAt,
        run.startedBy,
        run.note,
        run.report === null ? null : JSON.stringify(run.report),
      ]);
    },
    async finish(id, end) {
      await sql.query("UPDATE conformance_runs SET status = $1, ended_at = $2, note = $3, report = $4 WHERE id = $5 AND status = 'running'", [
        end.status,
        end.endedAt,
        end.note,
        end.report === null ? null : JSON.stringify(end.report),
        id,
      ]);
    },
    async get(id) {
      const [row] = await sql.query<Row>(`SELECT ${COLUMNS} FROM conformance_runs WHERE id = $1`, [id]);
      return row && toRun(row);
    },
    async list({ deviceIds, limit }) {
      if (deviceIds?.length === 0) return [];
      const where = deviceIds ? `WHERE device_id IN (${deviceIds.map((_, i) => `$${i + 2}`).join(', ')})` : '';
      const rows = await sql.query<Row>(`SELECT ${COLUMNS} FROM conformance_runs ${where} ORDER BY started_at DESC, id LIMIT $1`, [
        limit,
        ...(deviceIds ?? []),
      ]);
      return rows.map(toRun);
    },
    async running() {
      return (await sql.query<Row>(`SELECT ${COLUMNS} FROM conformance_runs WHERE status = 'running' ORDER BY started_at`)).map(toRun);
    },
  };
}
