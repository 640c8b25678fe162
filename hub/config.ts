import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { z } from 'zod';
import { parseEnv } from '../kernel/config-env.js';

/** The package root, from dist/hub/ or hub/ alike. */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

const Schema = z.object({
  ARENA_DATA_DIR: z.string().min(1).default('data'),
  ARENA_PROFILES_DIR: z.string().min(1).default(resolve(ROOT, 'device-profiles/profiles')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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

export interface HubConfig {
  readonly dataDir: string;
  readonly profilesDir: string;
  readonly logLevel: string;
  readonly journalMaxBytes: number;
  readonly duckdbMemoryLimit: string;
  readonly dedupWindowMs: number;
  readonly root: string;
  readonly disk: { readonly softMinBytes: number; readonly hardMinBytes: number; readonly intervalMs: number };
}

export function loadHubConfig(env: Record<string, string | undefined>): HubConfig {
  const c = parseEnv(Schema, env);
  return Object.freeze({
    dataDir: resolve(c.ARENA_DATA_DIR),
    profilesDir: resolve(c.ARENA_PROFILES_DIR),
    logLevel: c.LOG_LEVEL,
    journalMaxBytes: c.ARENA_JOURNAL_MAX_BYTES,
    duckdbMemoryLimit: c.ARENA_DUCKDB_MEMORY_LIMIT,
    dedupWindowMs: c.ARENA_DEDUP_WINDOW_S * 1000,
    root: ROOT,
    disk: Object.freeze({ softMinBytes: c.ARENA_DISK_SOFT_MIN_BYTES, hardMinBytes: c.ARENA_DISK_HARD_MIN_BYTES, intervalMs: c.ARENA_DISK_CHECK_MS }),
  });
}
