import { z } from 'zod';
import { AlarmEnv, alarmConfig } from '../alarms/config.js';
import { ApiEnv, apiConfig } from '../api/config.js';
import { BrokerEnv, brokerConfig, checkBroker } from '../broker/config.js';
import { IngestEnv, ingestConfig } from '../ingest/config.js';
import type { RetentionPolicy } from '../kernel/trial-retention.js';
import { int, optionalInt, parseEnv, PROCESS_VARS, processConfig, SharedEnv, withChecks, type ProcessConfig } from '../service/config.js';

/** The all-in-one hub's own variables: the embedded store and the disk it writes to. */
const HubEnv = SharedEnv.pick(PROCESS_VARS).extend({
  /** The ingest journal's size limit; at it, devices are held back until the store catches up. */
  ARENA_JOURNAL_MAX_BYTES: int(256 * 1024 * 1024, 1024 * 1024, 2 ** 50),
  /** Redeliveries are recognised by receive time this long after the original (stores/duckdb/README.md). */
  ARENA_DEDUP_WINDOW_S: int(3600, 60, 30 * 86_400),
  /** DuckDB's memory for the telemetry file (sorting an export, mostly); past it, it spills to disk. */
  ARENA_DUCKDB_MEMORY_LIMIT: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$/i, 'must be a size such as 512MB or 2GiB')
    .default('512MB'),
  /**
   * Free space where the hub writes (hub/disk-watch.ts). Below the soft mark: a warning.
   * Below the hard mark (data folder, journal): no new messages until space returns; it
   * must leave room to load a full journal into DuckDB. 0 turns a mark off.
   */
  ARENA_DISK_SOFT_MIN_BYTES: int(2 * 1024 * 1024 * 1024, 0, 2 ** 50),
  ARENA_DISK_HARD_MIN_BYTES: int(512 * 1024 * 1024, 0, 2 ** 50),
  ARENA_DISK_CHECK_MS: int(1000, 10, 60_000),
  /**
   * Closed trials' data (hub/retention-schedule.ts): archived, then deleted, this many
   * days after the trial closed, for trials that set nothing of their own
   * (PUT /v1/trials/{id}/retention); unset: never.
   */
  ARENA_TRIAL_ARCHIVE_AFTER_DAYS: optionalInt(0, 36_500),
  ARENA_TRIAL_DELETE_AFTER_DAYS: optionalInt(0, 36_500),
  ARENA_TRIAL_RETENTION_CHECK_S: int(3600, 1, 86_400),
  // Each action rewrites the store's file: a backlog is worked off a few trials per check.
  ARENA_TRIAL_RETENTION_PER_CHECK: int(1, 1, 1000),
  /** libuv's thread pool (hub/thread-pool.ts); unset: the exports' slots plus POOL_RESERVE. */
  UV_THREADPOOL_SIZE: optionalInt(1, 1024),
});
type HubEnv = z.output<typeof HubEnv>;

function checkDisk(c: HubEnv, ctx: z.core.$RefinementCtx): void {
  const { ARENA_DISK_SOFT_MIN_BYTES: soft, ARENA_DISK_HARD_MIN_BYTES: hard } = c;
  if (typeof soft === 'number' && typeof hard === 'number' && soft !== 0 && soft < hard) {
    ctx.addIssue({
      code: 'custom',
      path: ['ARENA_DISK_SOFT_MIN_BYTES'],
      message: 'must not be below ARENA_DISK_HARD_MIN_BYTES, or 0',
      input: c.ARENA_DISK_SOFT_MIN_BYTES,
    });
  }
}

export interface HubConfig extends ProcessConfig {
  readonly journalMaxBytes: number;
  readonly duckdbMemoryLimit: string;
  readonly dedupWindowMs: number;
  readonly disk: { readonly softMinBytes: number; readonly hardMinBytes: number; readonly intervalMs: number };
  readonly trialRetention: { readonly defaults: RetentionPolicy; readonly intervalMs: number; readonly maxPerCheck: number };
}

const hubConfig = (c: HubEnv): HubConfig =>
  Object.freeze({
    ...processConfig(c),
    journalMaxBytes: c.ARENA_JOURNAL_MAX_BYTES,
    duckdbMemoryLimit: c.ARENA_DUCKDB_MEMORY_LIMIT,
    dedupWindowMs: c.ARENA_DEDUP_WINDOW_S * 1000,
    disk: Object.freeze({ softMinBytes: c.ARENA_DISK_SOFT_MIN_BYTES, hardMinBytes: c.ARENA_DISK_HARD_MIN_BYTES, intervalMs: c.ARENA_DISK_CHECK_MS }),
    trialRetention: Object.freeze({
      defaults: Object.freeze({ archiveAfterDays: c.ARENA_TRIAL_ARCHIVE_AFTER_DAYS ?? null, deleteAfterDays: c.ARENA_TRIAL_DELETE_AFTER_DAYS ?? null }),
      intervalMs: c.ARENA_TRIAL_RETENTION_CHECK_S * 1000,
      maxPerCheck: c.ARENA_TRIAL_RETENTION_PER_CHECK,
    }),
  });

/** The hub's own settings alone (npm run requeue, tests); throws CONFIG_INVALID naming every bad variable. */
export const loadHubConfig = (env: Readonly<Record<string, string | undefined>>): HubConfig => hubConfig(parseEnv(withChecks(HubEnv, checkDisk), env));

/**
 * The all-in-one hub (hub/main.ts) in one schema: its own settings and those of the
 * broker, ingest, the API and the alarm engine it runs, so that every invalid variable is
 * reported at once.
 */
const HubProcessEnv = withChecks(HubEnv.extend(BrokerEnv.shape).extend(IngestEnv.shape).extend(ApiEnv.shape).extend(AlarmEnv.shape), checkDisk, checkBroker);

/**
 * Threads the pool keeps for everything but exports: the ingest journal's O_DSYNC appends,
 * the registry's and ingest's DuckDB calls, scrypt checks of CONNECTs, file reads for
 * sending. libuv's default pool is this size in all.
 */
export const POOL_RESERVE = 4;

/**
 * The size the hub gives libuv's thread pool. Every call of @duckdb/node-api is an N-API
 * async work item, so a DuckDB query holds one pool thread from its start to its end: an
 * export's COPY for seconds. With libuv's default of 4, API_EXPORTS_TOTAL (4) exports took
 * every thread and each journal append behind them waited for one to end: a device's
 * PUBACK p99 during the exports of `npm run bench -- --only=api` was 9.7 s with 4 threads,
 * 0.5 s with 8 (load average 13-17 on 2 cores, idle 0.2 s). So the pool has a thread for every export slot and the
 * reserve beside them; an operator's UV_THREADPOOL_SIZE is kept as given. Undefined when
 * the variables do not parse: the start then stops on loadHubProcessConfig's message.
 */
export function threadPoolSize(env: Readonly<Record<string, string | undefined>>): number | undefined {
  const c = HubEnv.pick({ UV_THREADPOOL_SIZE: true })
    .extend(ApiEnv.pick({ API_EXPORTS_TOTAL: true }).shape)
    .safeParse(env);
  if (!c.success) return undefined;
  return c.data.UV_THREADPOOL_SIZE ?? Math.min(1024, c.data.API_EXPORTS_TOTAL + POOL_RESERVE);
}

export function loadHubProcessConfig(env: Readonly<Record<string, string | undefined>>) {
  const e = parseEnv(HubProcessEnv, env);
  return Object.freeze({ hub: hubConfig(e), broker: brokerConfig(e), ingest: ingestConfig(e), api: apiConfig(e), alarms: alarmConfig(e) });
}
