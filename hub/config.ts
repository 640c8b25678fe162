import { z } from 'zod';
import { loadProcessConfig, type ProcessConfig } from '../service/config.js';

const Schema = z.object({
  /** The ingest journal's size limit; at it, devices are held back until the store catches up. */
  ARENA_JOURNAL_MAX_BYTES: z.coerce.number().int().min(1024 * 1024).default(256 * 1024 * 1024),
  /** Redeliveries are recognised by receive time this long after the original (stores/duckdb/README.md). */
  ARENA_DEDUP_WINDOW_S: z.coerce.number().int().min(60).default(3600),
  /** DuckDB's memory for the telemetry file (sorting an export, mostly); past it, it spills to disk. */
  ARENA_DUCKDB_MEMORY_LIMIT: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'a size such as 512MB or 2GiB').default('512MB'),
  /**
   * Free space where the hub writes (hub/disk-watch.ts). Below the soft mark: a warning.
   * Below the hard mark (data folder, journal): no new messages until space returns; it
   * must leave room to load a full journal into DuckDB. 0 turns a mark off.
   */
  ARENA_DISK_SOFT_MIN_BYTES: z.coerce.number().int().min(0).default(2 * 1024 * 1024 * 1024),
  ARENA_DISK_HARD_MIN_BYTES: z.coerce.number().int().min(0).default(512 * 1024 * 1024),
  ARENA_DISK_CHECK_MS: z.coerce.number().int().min(10).max(60_000).default(1000),
}).refine((c) => c.ARENA_DISK_SOFT_MIN_BYTES === 0 || c.ARENA_DISK_SOFT_MIN_BYTES >= c.ARENA_DISK_HARD_MIN_BYTES, {
  path: ['ARENA_DISK_SOFT_MIN_BYTES'],
  message: 'must not be below ARENA_DISK_HARD_MIN_BYTES',
});

export interface HubConfig extends ProcessConfig {
  readonly journalMaxBytes: number;
  readonly duckdbMemoryLimit: string;
  readonly dedupWindowMs: number;
  readonly disk: { readonly softMinBytes: number; readonly hardMinBytes: number; readonly intervalMs: number };
}

export function loadHubConfig(env: Record<string, string | undefined>): HubConfig {
  const c = Schema.parse(env);
  return Object.freeze({
    ...loadProcessConfig(env),
    journalMaxBytes: c.ARENA_JOURNAL_MAX_BYTES,
    duckdbMemoryLimit: c.ARENA_DUCKDB_MEMORY_LIMIT,
    dedupWindowMs: c.ARENA_DEDUP_WINDOW_S * 1000,
    disk: Object.freeze({ softMinBytes: c.ARENA_DISK_SOFT_MIN_BYTES, hardMinBytes: c.ARENA_DISK_HARD_MIN_BYTES, intervalMs: c.ARENA_DISK_CHECK_MS }),
  });
}
