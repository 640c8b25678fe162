import type { AlarmPlace } from '../kernel/alarms.js';
import { migrate, type Migration, type SqlClient } from '../kernel/sql.js';
import type { Family } from '../kernel/telemetry.js';
import type { RecentPoints, RecentSnapshot } from './recent-points.js';
import { TimeWindow, type WindowSnapshot } from './rules/time-window.js';
import type { EvalState, PendingDose } from './rules/types.js';

/**
 * The alarm engine's checkpoint: what its rules remember (fluid windows, pending doses,
 * latest measurements, places) and the messages it has judged lately, as of one moment,
 * so that a restart replays only what was received after it instead of every point of the
 * rolling windows (ALARM_REPLAY_H, 72 h). Device memory is not in it: the engine stores
 * that on its own (alarm_devices), newer than any checkpoint.
 *
 * One row in a table of its own, with its own migration ledger, beside the engine's other
 * tables (store.ts) on the same SqlClient (DuckDB or PostgreSQL).
 */

/** Bumped when the body's layout changes; a checkpoint of another version is not used. */
export const CHECKPOINT_VERSION = 1;

const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'alarm engine checkpoint',
    statements: [
      `CREATE TABLE IF NOT EXISTS alarm_checkpoints (
        name TEXT PRIMARY KEY,
        mark BIGINT NOT NULL,
        taken_at BIGINT NOT NULL,
        body TEXT NOT NULL
      )`,
    ],
  },
];

const ROW = 'engine';

export async function migrateCheckpointTable(sql: SqlClient, now: number): Promise<void> {
  await migrate(sql, MIGRATIONS, 'alarm_checkpoint_migrations', () => now);
}

export interface Checkpoint {
  readonly version: number;
  /** Receipt time up to which the engine had judged every point (the engine's evaluatedUntil). */
  readonly mark: number;
  /** The replay window it was taken under; under another one the state would differ from a replay's. */
  readonly replayMs: number;
  readonly takenAt: number;
  readonly doses: readonly (readonly [string, readonly PendingDose[]])[];
  readonly lastMeasured: readonly (readonly [string, number])[];
  readonly places: readonly (readonly [string, { readonly place: AlarmPlace; readonly family: Family }])[];
  readonly fluid: readonly (readonly [string, { readonly spanMs: number; readonly times: string; readonly totals: string; readonly base: number }])[];
  readonly recent: { readonly ids: string; readonly next: string; readonly at: string };
}

/**
 * Numbers as the bytes of a Float64Array in base64: exact, and several times faster to
 * write and read than JSON's decimal text for windows of hundreds of thousands of points.
 */
const packNumbers = (xs: readonly number[]): string => Buffer.from(Float64Array.from(xs).buffer).toString('base64');

function unpackNumbers(s: string): number[] {
  const b = Buffer.from(s, 'base64');
  return Array.from(new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)));
}

/** The body to store, taken synchronously so that it is the state of one moment. */
export function checkpointOf(state: EvalState, recent: RecentPoints, o: { mark: number; replayMs: number; takenAt: number }): string {
  const r: RecentSnapshot = recent.snapshot();
  const windowOf = (w: TimeWindow) => {
    const s: WindowSnapshot = w.snapshot();
    return { spanMs: s.spanMs, times: packNumbers(s.times), totals: packNumbers(s.totals), base: s.base };
  };
  const body: Checkpoint = {
    version: CHECKPOINT_VERSION,
    ...o,
    doses: [...state.doses],
    lastMeasured: [...state.lastMeasured],
    places: [...state.places],
    fluid: [...state.fluid].map(([pid, w]) => [pid, windowOf(w)] as const),
    recent: { ids: r.ids.join(','), next: packNumbers(r.next), at: packNumbers(r.at) },
  };
  return JSON.stringify(body);
}

/** Puts a checkpoint's memory into an empty state and an empty RecentPoints. */
export function restoreCheckpoint(cp: Checkpoint, state: EvalState, recent: RecentPoints): void {
  for (const [subject, doses] of cp.doses) state.doses.set(subject, [...doses]);
  for (const [key, at] of cp.lastMeasured) state.lastMeasured.set(key, at);
  for (const [pid, p] of cp.places) state.places.set(pid, p);
  for (const [pid, w] of cp.fluid) {
    state.fluid.set(pid, TimeWindow.restore({ spanMs: w.spanMs, times: unpackNumbers(w.times), totals: unpackNumbers(w.totals), base: w.base }));
  }
  const ids = cp.recent.ids === '' ? [] : cp.recent.ids.split(',').map((id) => BigInt(id));
  recent.restore({ ids, next: unpackNumbers(cp.recent.next), at: unpackNumbers(cp.recent.at) });
}

export async function saveCheckpoint(sql: SqlClient, body: string, mark: number, takenAt: number): Promise<void> {
  await sql.query(
    `INSERT INTO alarm_checkpoints (name, mark, taken_at, body) VALUES ($1, $2, $3, $4)
     ON CONFLICT (name) DO UPDATE SET mark = excluded.mark, taken_at = excluded.taken_at, body = excluded.body`,
    [ROW, mark, takenAt, body],
  );
}

export async function loadCheckpoint(sql: SqlClient): Promise<Checkpoint | undefined> {
  const [row] = await sql.query<{ body: string }>('SELECT body FROM alarm_checkpoints WHERE name = $1', [ROW]);
  return row ? (JSON.parse(row.body) as Checkpoint) : undefined;
}
