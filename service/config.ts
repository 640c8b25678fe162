import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { HubError } from '../kernel/errors.js';

/** The package root, from dist/service/ or service/ alike. */
export const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

/** What every process reads: where its data and the device profiles are, and how much it logs. */
const ProcessEnv = z.object({
  ARENA_DATA_DIR: z.string().min(1).default('data'),
  ARENA_PROFILES_DIR: z.string().min(1).default(resolve(ROOT, 'device-profiles/profiles')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface ProcessConfig {
  readonly dataDir: string;
  readonly profilesDir: string;
  readonly logLevel: string;
  readonly root: string;
}

export function loadProcessConfig(env: Record<string, string | undefined>): ProcessConfig {
  const c = ProcessEnv.parse(env);
  return Object.freeze({ dataDir: resolve(c.ARENA_DATA_DIR), profilesDir: resolve(c.ARENA_PROFILES_DIR), logLevel: c.LOG_LEVEL, root: ROOT });
}

/**
 * Settings the split services (broker/main.ts, ingest/main.ts, api/main.ts) share: which
 * adapters they open and the service account. Each service's own config.ts names the
 * variables it passes in. The all-in-one hub (hub/start.ts) reads none of this.
 *
 * The split layout shares one registry over PostgreSQL (ARENA_REGISTRY_URL): an embedded
 * DuckDB file can be open in one process only. Telemetry goes to InfluxDB
 * (ARENA_STORE=influx, through the on-disk outbox on the ingest side), or, for a local
 * split run, to a DuckDB file that ingest owns alone.
 */
const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const Env = z
  .object({
    ARENA_REGISTRY_URL: optional,
    ARENA_STORE: z.enum(['duckdb', 'influx']).default('duckdb'),
    INFLUX_URL: optional,
    INFLUX_TOKEN: optional,
    INFLUX_ORG: optional,
    INFLUX_BUCKET: optional,
    INFLUX_DATABASE: optional,
    INFLUX_OUTBOX_MAX_BYTES: z.coerce.number().int().positive().default(1024 ** 3),
  })
  .refine((e) => e.ARENA_REGISTRY_URL !== undefined, {
    path: ['ARENA_REGISTRY_URL'],
    message: 'the split services share the registry over PostgreSQL: set postgres://… (the all-in-one `npm start` needs nothing)',
  })
  .refine((e) => e.ARENA_STORE !== 'influx' || (e.INFLUX_URL && e.INFLUX_ORG && e.INFLUX_BUCKET && e.INFLUX_DATABASE), {
    path: ['INFLUX_URL'],
    message: 'ARENA_STORE=influx needs INFLUX_URL, INFLUX_ORG, INFLUX_BUCKET and INFLUX_DATABASE (and INFLUX_TOKEN)',
  });

export interface AdapterConfig {
  readonly registryUrl: string;
  readonly store:
    | { readonly kind: 'duckdb' }
    | { readonly kind: 'influx'; readonly url: string; readonly token: string; readonly org: string; readonly bucket: string; readonly database: string; readonly outboxMaxBytes: number };
}

export function loadAdapterConfig(env: Record<string, string | undefined>): AdapterConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new HubError('CONFIG_INVALID', parsed.error.issues.map((i) => `${i.path.join('.') || '(env)'}: ${i.message}`).join('\n'));
  }
  const e = parsed.data;
  const store: AdapterConfig['store'] =
    e.ARENA_STORE === 'influx'
      ? { kind: 'influx', url: e.INFLUX_URL!, token: e.INFLUX_TOKEN ?? '', org: e.INFLUX_ORG!, bucket: e.INFLUX_BUCKET!, database: e.INFLUX_DATABASE!, outboxMaxBytes: e.INFLUX_OUTBOX_MAX_BYTES }
      : { kind: 'duckdb' };
  return Object.freeze({ registryUrl: e.ARENA_REGISTRY_URL!, store: Object.freeze(store) });
}

/**
 * The service account split ingest and API log in with: broker/main.ts hashes the
 * secret at start, ingest/main.ts and api/main.ts send it. All three read the same two variables.
 */
const ServiceAccountEnv = z.object({
  BROKER_SERVICE_USER: z.string().trim().min(1).default('arena-ingest'),
  BROKER_SERVICE_SECRET: z.string({ error: 'is required in the split layout' }).min(16, 'is required in the split layout: at least 16 characters'),
});

export function loadServiceAccount(env: Record<string, string | undefined>): { readonly username: string; readonly secret: string } {
  const parsed = ServiceAccountEnv.safeParse(env);
  if (!parsed.success) {
    throw new HubError('CONFIG_INVALID', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('\n'));
  }
  return Object.freeze({ username: parsed.data.BROKER_SERVICE_USER, secret: parsed.data.BROKER_SERVICE_SECRET });
}
