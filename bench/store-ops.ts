import { forkHelper } from './procs.js';

/** Requests children/store-worker.ts understands; each runs in a fresh process. */
export type StoreOp =
  /** journal: path is a data folder, written through the hub's journal (hub/journaled-store.ts) instead of DuckDB alone. */
  | { op: 'write'; path: string; batch: number; batches: number; journal?: boolean }
  | { op: 'seed'; path: string; rows: number; trialId: string; participants: number; from: number }
  | { op: 'points'; path: string; trialId: string }
  | { op: 'copy'; path: string; trialId: string; format: 'csv' | 'parquet'; columns: 'all' | 'dataset'; out: string };

/** A seeded trial is one block written through store.write, then copied in SQL. */
export const SEED_BLOCK_ROWS = 200_000;
/** Device time one block covers; each copy follows the previous one. */
export const SEED_BLOCK_SPAN_MS = 30 * 86_400_000;

/** Device time [from, to) a seeded trial of `rows` readings starting at `from` covers. */
export const seededSpan = (rows: number, from: number): { from: number; to: number } => ({
  from,
  to: from + Math.ceil(rows / SEED_BLOCK_ROWS) * SEED_BLOCK_SPAN_MS,
});

/** The participants a seeded trial's readings are attributed to, round robin. */
export const participantIdOf = (i: number): string => `P-${String(i).padStart(3, '0')}`;

export interface WriteReply {
  readonly messagesPerS: number;
  readonly medianWriteMs: number;
  readonly p99WriteMs: number;
  /** Share of the write time the main thread was busy (appenders are synchronous). */
  readonly mainThreadShare: number;
  /** CPU per message, all threads (DuckDB's included) and the main thread alone. */
  readonly cpuUsPerMessage: number;
  readonly mainThreadUsPerMessage: number;
}

export interface RowsReply {
  readonly rows: number;
  readonly seconds: number;
  readonly bytes?: number;
  readonly peakRssMb: number | null;
  readonly storeWriteRowsPerS?: number;
}

export async function storeOp<T>(request: StoreOp, baseEnv: Readonly<Record<string, string | undefined>>): Promise<T> {
  const w = await forkHelper('store-worker.js', [], baseEnv);
  try {
    return await w.request<T>(request);
  } finally {
    await w.stop();
  }
}
