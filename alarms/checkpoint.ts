import type { AlarmPlace } from '../kernel/alarms.js';
import { migrate, type Migration, type SqlClient } from '../kernel/sql.js';
import type { Family } from '../kernel/telemetry.js';
import type { RecentPoints } from './recent-points.js';
import { TimeWindow } from './rules/time-window.js';
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
  /** Per participant: the window's span and base; its times and totals are blobs 2i and 2i + 1. */
  readonly fluid: readonly (readonly [string, { readonly spanMs: number; readonly base: number }])[];
  /**
   * Arrays as the bytes of typed arrays in base64: exact, and written and read many times
   * faster than JSON's decimal text for windows of hundreds of thousands of points. The
   * fluid windows' first, then the recent messages' ids (BigUint64), next seqs and times.
   */
  readonly blobs: readonly string[];
}

const pack = (a: Float64Array | BigUint64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

/** A copy, so that the typed array is aligned whatever the decoded Buffer's offset. */
function bytes(s: string): ArrayBuffer {
  const b = Buffer.from(s, 'base64');
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * The body to store, taken synchronously so that it is the state of one moment. The blobs
 * are base64, which JSON never escapes, so they are spliced into the text instead of
 * passed through JSON.stringify: scanning tens of MB for characters to escape took most of
 * the time the main thread spent on a checkpoint.
 */
export function checkpointOf(state: EvalState, recent: RecentPoints, o: { mark: number; replayMs: number; takenAt: number }): string {
  const blobs: string[] = [];
  const fluid = [...state.fluid].map(([pid, w]) => {
    const s = w.snapshot();
    blobs.push(pack(s.times), pack(s.totals));
    return [pid, { spanMs: s.spanMs, base: s.base }] as const;
  });
  const r = recent.snapshot();
  blobs.push(pack(r.ids), pack(r.next), pack(r.at));
  const head: Omit<Checkpoint, 'blobs'> = {
    version: CHECKPOINT_VERSION,
    ...o,
    doses: [...state.doses],
    lastMeasured: [...state.lastMeasured],
    places: [...state.places],
    fluid,
  };
  return `${JSON.stringify(head).slice(0, -1)},"blobs":["${blobs.join('","')}"]}`;
}

/** Puts a checkpoint's memory into an empty state and an empty RecentPoints. */
export function restoreCheckpoint(cp: Checkpoint, state: EvalState, recent: RecentPoints): void {
  for (const [subject, doses] of cp.doses) state.doses.set(subject, [...doses]);
  for (const [key, at] of cp.lastMeasured) state.lastMeasured.set(key, at);
  for (const [pid, p] of cp.places) state.places.set(pid, p);
  const blob = (i: number): ArrayBuffer => bytes(cp.blobs[i]!);
  cp.fluid.forEach(([pid, w], i) => {
    state.fluid.set(pid, TimeWindow.restore({ ...w, times: new Float64Array(blob(2 * i)), totals: new Float64Array(blob(2 * i + 1)) }));
  });
  const r = 2 * cp.fluid.length;
  recent.restore({ ids: new BigUint64Array(blob(r)), next: new Float64Array(blob(r + 1)), at: new Float64Array(blob(r + 2)) });
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
