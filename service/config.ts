import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { HubError } from '../kernel/errors.js';
import type { ServiceBroker, ServiceTls } from './mqtt-client.js';
import { path } from './tls-config.js';

/**
 * The pieces every process's configuration is built from: one parser per kind of value,
 * the variables several processes read, and one way to report what is wrong. Each
 * process parses its environment once, with one schema (its service's config.ts), so
 * every invalid variable is reported at once, each with the values it accepts. A
 * variable set but left empty is an error, never its default: `MQTT_PORT=` must not
 * silently mean 1883, nor 0 (a random port).
 */

/** The package root, from dist/service/ or service/ alike. */
export const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

/**
 * The one integer rule: a whole number from min to max, in decimal digits only (Number()
 * would take "", " 1 ", "1e3" or "0x10").
 */
const whole = (min: number, max: number) => {
  const message = `must be a whole number from ${min} to ${max}`;
  return z.string({ error: message }).regex(/^\d+$/, message).transform(Number).pipe(z.number().min(min, message).max(max, message));
};

/** A whole number from min to max; unset: `fallback`. */
export const int = (fallback: number, min: number, max: number) => whole(min, max).default(fallback);

/** A whole number from min to max, or unset. */
export const optionalInt = (min: number, max: number) => whole(min, max).optional();

/** A TCP port; 0 picks a free one (tests). */
export const port = (fallback: number) => int(fallback, 0, 65_535);

/** Any text but an empty one (surrounding spaces dropped). */
export const text = () => z.string().trim().min(1, 'must not be empty');

/** One of `values`, named in the message when it is none of them. */
export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) => z.enum(values, { error: `must be one of ${values.join(', ')}` });

/** An MQTT client id the broker keeps a persistent session for. */
export const clientId = () => z.string().regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, ".", "_" or "-", at most 40');

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const OUTBOX_MAX_BYTES = 1024 ** 3;

/**
 * The variables more than one process reads, each parsed by one rule wherever it is
 * read. A process's schema picks those it reads by name (SharedEnv.pick in its
 * config.ts), so that file lists every variable the process reads.
 *
 * The split layout shares one registry over PostgreSQL (ARENA_REGISTRY_URL): an embedded
 * DuckDB file can be open in one process only. Telemetry goes to InfluxDB
 * (ARENA_STORE=influx, through the on-disk outbox on the ingest side), or, for a local
 * split run, to a DuckDB file that ingest owns alone. The service account is what split
 * ingest and API log in to the broker with: broker/main.ts hashes the secret at start.
 */
export const SharedEnv = z.object({
  ARENA_DATA_DIR: text().default('data'),
  ARENA_PROFILES_DIR: text().default(resolve(ROOT, 'device-profiles/profiles')),
  LOG_LEVEL: oneOf(LOG_LEVELS).default('info'),
  /** The arena's own catalogue files (*.yaml: measurements, events, families), on top of the shipped catalogue/. */
  ARENA_CATALOGUE_DIR: text().optional(),
  /** Where the broker listens (broker), and where the split services reach it (ingest, API). */
  MQTT_HOST: text().default('127.0.0.1'),
  MQTT_PORT: port(1883),
  /** The broker's MQTT over TLS listener (broker), and where the split services reach it with MQTT_TLS_CA_FILE set. */
  MQTT_TLS_PORT: port(8883),
  /**
   * Split services: the CA that issued the broker's certificate. Set: they connect over
   * TLS (mqtts://MQTT_HOST:MQTT_TLS_PORT), so the broker may run with MQTT_PLAIN=off;
   * unset: plain mqtt://MQTT_HOST:MQTT_PORT.
   */
  MQTT_TLS_CA_FILE: path,
  /** The name the broker's certificate is checked against, when MQTT_HOST is another (compose: `broker`). */
  MQTT_TLS_SERVER_NAME: text().optional(),
  /** A client certificate and key, for a broker that asks for one (an MQTT cluster with mutual TLS). */
  MQTT_TLS_CLIENT_CERT_FILE: path,
  MQTT_TLS_CLIENT_KEY_FILE: path,
  // The all-in-one `npm start` does not read it (its registry is a DuckDB file).
  ARENA_REGISTRY_URL: z
    .string({ error: 'the split services share the registry over PostgreSQL: set postgres://…' })
    .trim()
    .regex(/^postgres(ql)?:\/\/./, 'must be a postgres://… URL'),
  ARENA_STORE: oneOf(['duckdb', 'influx']).default('duckdb'),
  INFLUX_URL: text().optional(),
  INFLUX_TOKEN: text().optional(),
  INFLUX_ORG: text().optional(),
  INFLUX_BUCKET: text().optional(),
  INFLUX_DATABASE: text().optional(),
  INFLUX_OUTBOX_MAX_BYTES: int(OUTBOX_MAX_BYTES, 1024 * 1024, 2 ** 50),
  BROKER_SERVICE_USER: text().default('arena-ingest'),
  BROKER_SERVICE_SECRET: z.string({ error: 'is required in the split layout' }).min(16, 'is required in the split layout: at least 16 characters'),
});

/**
 * The shared variables by what reads them, for each process's schema to pick from:
 * a variable every process reads is added here once, not in every config.ts.
 */
export const PROCESS_VARS = { ARENA_DATA_DIR: true, ARENA_PROFILES_DIR: true, ARENA_CATALOGUE_DIR: true, LOG_LEVEL: true } as const;
/** The telemetry store of the split layout (service/adapters.ts), as the API reads it. */
export const STORE_VARS = { ARENA_STORE: true, INFLUX_URL: true, INFLUX_TOKEN: true, INFLUX_ORG: true, INFLUX_BUCKET: true, INFLUX_DATABASE: true } as const;
/** The service account ingest and the API log in to the broker with. */
export const SERVICE_ACCOUNT_VARS = { BROKER_SERVICE_USER: true, BROKER_SERVICE_SECRET: true } as const;
/** Where a split service reaches the broker, over TLS or not (service/mqtt-client.ts). */
export const SERVICE_BROKER_VARS = {
  MQTT_HOST: true,
  MQTT_PORT: true,
  MQTT_TLS_PORT: true,
  MQTT_TLS_CA_FILE: true,
  MQTT_TLS_SERVER_NAME: true,
  MQTT_TLS_CLIENT_CERT_FILE: true,
  MQTT_TLS_CLIENT_KEY_FILE: true,
} as const;
type Shared = z.output<typeof SharedEnv>;

/**
 * `schema` with checks across variables. They run even when a variable failed to parse,
 * so that every problem is reported at once; each check therefore looks only at values
 * that parsed (numbers that are numbers).
 */
export const withChecks = <S extends z.ZodObject>(schema: S, ...checks: ((e: z.output<S>, ctx: z.core.$RefinementCtx) => void)[]): S =>
  schema.superRefine(
    (e, ctx) => {
      for (const check of checks) check(e, ctx);
    },
    { when: () => true },
  );

/** Every problem of `env` under `schema`, one line each, `VARIABLE: what it accepts`; or the parsed settings. */
export function parseEnv<S extends z.ZodType>(schema: S, env: Readonly<Record<string, string | undefined>>): z.output<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`);
  throw new HubError('CONFIG_INVALID', [...new Set(lines)].join('\n'));
}

export interface ProcessConfig {
  readonly dataDir: string;
  readonly profilesDir: string;
  /** Catalogue folders read after the shipped one (device-profiles/catalogue.ts). */
  readonly catalogueDirs: readonly string[];
  readonly logLevel: string;
  readonly root: string;
}

/** What every process reads: where its data and the device profiles are, and how much it logs. */
export const processConfig = (e: Pick<Shared, 'ARENA_DATA_DIR' | 'ARENA_PROFILES_DIR' | 'ARENA_CATALOGUE_DIR' | 'LOG_LEVEL'>): ProcessConfig =>
  Object.freeze({
    dataDir: resolve(e.ARENA_DATA_DIR),
    profilesDir: resolve(e.ARENA_PROFILES_DIR),
    catalogueDirs: Object.freeze(e.ARENA_CATALOGUE_DIR === undefined ? [] : [resolve(e.ARENA_CATALOGUE_DIR)]),
    logLevel: e.LOG_LEVEL,
    root: ROOT,
  });

export interface AdapterConfig {
  readonly registryUrl: string;
  readonly store:
    | { readonly kind: 'duckdb' }
    | {
        readonly kind: 'influx';
        readonly url: string;
        readonly token: string;
        readonly org: string;
        readonly bucket: string;
        readonly database: string;
        readonly outboxMaxBytes: number;
      };
}

type AdapterEnv = Pick<Shared, 'ARENA_REGISTRY_URL'> &
  Partial<Pick<Shared, 'ARENA_STORE' | 'INFLUX_URL' | 'INFLUX_TOKEN' | 'INFLUX_ORG' | 'INFLUX_BUCKET' | 'INFLUX_DATABASE' | 'INFLUX_OUTBOX_MAX_BYTES'>>;

/** InfluxDB's coordinates, when it is the store. */
export function checkAdapters(e: AdapterEnv, ctx: z.core.$RefinementCtx): void {
  if (e.ARENA_STORE !== 'influx') return;
  for (const name of ['INFLUX_URL', 'INFLUX_ORG', 'INFLUX_BUCKET', 'INFLUX_DATABASE'] as const) {
    if (e[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'is required with ARENA_STORE=influx', input: undefined });
  }
}

/** The adapters of a split service (checked by checkAdapters first). */
export function adapterConfig(e: AdapterEnv): AdapterConfig {
  const store: AdapterConfig['store'] =
    e.ARENA_STORE === 'influx'
      ? {
          kind: 'influx',
          url: e.INFLUX_URL!,
          token: e.INFLUX_TOKEN ?? '',
          org: e.INFLUX_ORG!,
          bucket: e.INFLUX_BUCKET!,
          database: e.INFLUX_DATABASE!,
          // A process that only reads the store (the API) has no outbox and does not read the variable.
          outboxMaxBytes: e.INFLUX_OUTBOX_MAX_BYTES ?? OUTBOX_MAX_BYTES,
        }
      : { kind: 'duckdb' };
  return Object.freeze({ registryUrl: e.ARENA_REGISTRY_URL, store: Object.freeze(store) });
}

/** The adapters of a split service alone (tests); a service's config.ts parses them with the rest. */
export const loadAdapterConfig = (env: Readonly<Record<string, string | undefined>>): AdapterConfig =>
  adapterConfig(parseEnv(withChecks(SharedEnv.pick({ ARENA_REGISTRY_URL: true, ...STORE_VARS, INFLUX_OUTBOX_MAX_BYTES: true }), checkAdapters), env));

export interface ServiceAccount {
  readonly username: string;
  readonly secret: string;
}

export const serviceAccount = (e: Pick<Shared, 'BROKER_SERVICE_USER' | 'BROKER_SERVICE_SECRET'>): ServiceAccount =>
  Object.freeze({ username: e.BROKER_SERVICE_USER, secret: e.BROKER_SERVICE_SECRET });

export const loadServiceAccount = (env: Readonly<Record<string, string | undefined>>): ServiceAccount =>
  serviceAccount(parseEnv(SharedEnv.pick({ BROKER_SERVICE_USER: true, BROKER_SERVICE_SECRET: true }), env));

type ServiceBrokerEnv = Pick<
  Shared,
  'MQTT_HOST' | 'MQTT_PORT' | 'MQTT_TLS_PORT' | 'MQTT_TLS_CA_FILE' | 'MQTT_TLS_SERVER_NAME' | 'MQTT_TLS_CLIENT_CERT_FILE' | 'MQTT_TLS_CLIENT_KEY_FILE'
>;

/** A client certificate goes with its key, and both with the CA that turns TLS on. */
export function checkServiceBroker(e: ServiceBrokerEnv, ctx: z.core.$RefinementCtx): void {
  const problem = (name: keyof ServiceBrokerEnv, message: string): void => ctx.addIssue({ code: 'custom', path: [name], message, input: e[name] });
  if ((e.MQTT_TLS_CLIENT_CERT_FILE === undefined) !== (e.MQTT_TLS_CLIENT_KEY_FILE === undefined))
    problem(
      e.MQTT_TLS_CLIENT_CERT_FILE === undefined ? 'MQTT_TLS_CLIENT_CERT_FILE' : 'MQTT_TLS_CLIENT_KEY_FILE',
      'MQTT_TLS_CLIENT_CERT_FILE and MQTT_TLS_CLIENT_KEY_FILE go together',
    );
  if (e.MQTT_TLS_CA_FILE !== undefined) return;
  for (const name of ['MQTT_TLS_SERVER_NAME', 'MQTT_TLS_CLIENT_CERT_FILE'] as const)
    if (e[name] !== undefined) problem(name, 'is used over TLS only: set MQTT_TLS_CA_FILE too');
}

/** Where the service reaches the broker (checked by checkServiceBroker first). */
export function serviceBroker(e: ServiceBrokerEnv): ServiceBroker {
  const tls: ServiceTls | undefined =
    e.MQTT_TLS_CA_FILE === undefined
      ? undefined
      : Object.freeze({
          caFile: e.MQTT_TLS_CA_FILE,
          ...(e.MQTT_TLS_SERVER_NAME ? { serverName: e.MQTT_TLS_SERVER_NAME } : {}),
          ...(e.MQTT_TLS_CLIENT_CERT_FILE && e.MQTT_TLS_CLIENT_KEY_FILE ? { certFile: e.MQTT_TLS_CLIENT_CERT_FILE, keyFile: e.MQTT_TLS_CLIENT_KEY_FILE } : {}),
        });
  const port = tls ? e.MQTT_TLS_PORT : e.MQTT_PORT;
  return Object.freeze({ host: e.MQTT_HOST, port, url: `${tls ? 'mqtts' : 'mqtt'}://${e.MQTT_HOST}:${port}`, tls });
}
