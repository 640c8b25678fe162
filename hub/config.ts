import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { z } from 'zod';

/** The package root, from dist/hub/ or hub/ alike. */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

const Schema = z.object({
  ARENA_DATA_DIR: z.string().min(1).default('data'),
  ARENA_PROFILES_DIR: z.string().min(1).default(resolve(ROOT, 'device-profiles/profiles')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** The ingest journal's size limit; at it, devices are held back until the store catches up. */
  ARENA_JOURNAL_MAX_BYTES: z.coerce.number().int().min(1024 * 1024).default(256 * 1024 * 1024),
  /** DuckDB's memory for the telemetry file (sorting an export, mostly); past it, it spills to disk. */
  /** Redeliveries are recognised by receive time this long after the original (stores/duckdb/README.md). */
  ARENA_DEDUP_WINDOW_S: z.coerce.number().int().min(60).default(3600),
  ARENA_DUCKDB_MEMORY_LIMIT: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'a size such as 512MB or 2GiB').default('512MB'),
});

export interface HubConfig {
  readonly dataDir: string;
  readonly profilesDir: string;
  readonly logLevel: string;
  readonly journalMaxBytes: number;
  readonly duckdbMemoryLimit: string;
  readonly dedupWindowMs: number;
  readonly root: string;
}

export function loadHubConfig(env: Record<string, string | undefined>): HubConfig {
  const c = Schema.parse(env);
  return Object.freeze({ dataDir: resolve(c.ARENA_DATA_DIR), profilesDir: resolve(c.ARENA_PROFILES_DIR), logLevel: c.LOG_LEVEL, journalMaxBytes: c.ARENA_JOURNAL_MAX_BYTES, duckdbMemoryLimit: c.ARENA_DUCKDB_MEMORY_LIMIT, dedupWindowMs: c.ARENA_DEDUP_WINDOW_S * 1000, root: ROOT });
}
