import { z } from 'zod';
import { parseEnv } from '../kernel/config-env.js';
import { HubError } from '../kernel/errors.js';
import { loadAlarmConfig } from '../alarms/config.js';
import { parseAuditKey } from '../audit/key.js';
import { loadHubConfig } from '../hub/config.js';
import { TlsEnv, pairedTlsFiles, tlsFiles } from '../hub/tls-config.js';
import type { TlsFiles } from '../kernel/tls.js';
import { loadAdapterConfig, loadServiceAccount } from '../hub/split-config.js';

const Env = z.object({
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Base64, at least 32 bytes: the audit log's HMAC key (audit/key.ts). Unset or empty: a key file in the data folder.
  ARENA_AUDIT_KEY: z.string().trim().optional(),
  // Requests per window, per token (authenticated) and per remote address (before the token is known).
  API_RATE_MAX: z.coerce.number().int().min(1).default(600),
  API_RATE_ADDRESS_MAX: z.coerce.number().int().min(1).default(1_200),
  API_RATE_WINDOW_S: z.coerce.number().int().min(1).max(3_600).default(60),
  API_LIVE_MAX_PER_TOKEN: z.coerce.number().int().min(1).default(4),
  API_LIVE_MAX_TOTAL: z.coerce.number().int().min(1).default(500),
  API_EXPORTS_PER_PRINCIPAL: z.coerce.number().int().min(1).default(2),
  API_EXPORTS_TOTAL: z.coerce.number().int().min(1).default(4),
  // Bytes of export files on disk at once (being written or waiting to be sent), across all exports.
  API_EXPORT_TEMP_MAX_BYTES: z.coerce.number().int().min(1).default(2 * 1024 ** 3),
  // The Prometheus scraper's bearer token for GET /metrics (api/metrics.ts); unset: admin tokens only.
  API_METRICS_TOKEN: z
    .string()
    .optional()
    .transform((v) => v?.trim() || undefined)
    .pipe(z.string().min(32, 'at least 32 characters (openssl rand -hex 32)').optional()),
  // Set: HTTPS only, on API_PORT (README "TLS").
  ...TlsEnv,
}).superRefine(pairedTlsFiles);

/** What one caller, and all callers together, may hold of the API (README, "API limits"). */
export interface ApiLimits {
  readonly rate: { readonly max: number; readonly addressMax: number; readonly windowMs: number };
  readonly live: { readonly perToken: number; readonly total: number };
  readonly exports: { readonly perPrincipal: number; readonly total: number; readonly tempMaxBytes: number };
}

export interface ApiConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly logLevel: string;
  /** The audit key from the configuration; undefined: the key file in the data folder. */
  readonly auditKey: Buffer | undefined;
  readonly limits: ApiLimits;
  /** Certificate and key for HTTPS; undefined: plain HTTP. */
  readonly tls: TlsFiles | undefined;
  readonly metricsToken: string | undefined;
}

/** The API's settings from an environment the composition root passes in; never process.env here. */
export function loadApiConfig(env: Readonly<Record<string, string | undefined>>): ApiConfig {
  const c = parseEnv(Env, env);
  const auditKey = c.ARENA_AUDIT_KEY ? parseAuditKey(c.ARENA_AUDIT_KEY, 'ARENA_AUDIT_KEY') : undefined;
  const limits: ApiLimits = Object.freeze({
    rate: Object.freeze({ max: c.API_RATE_MAX, addressMax: c.API_RATE_ADDRESS_MAX, windowMs: c.API_RATE_WINDOW_S * 1000 }),
    live: Object.freeze({ perToken: c.API_LIVE_MAX_PER_TOKEN, total: c.API_LIVE_MAX_TOTAL }),
    exports: Object.freeze({ perPrincipal: c.API_EXPORTS_PER_PRINCIPAL, total: c.API_EXPORTS_TOTAL, tempMaxBytes: c.API_EXPORT_TEMP_MAX_BYTES }),
  });
  return Object.freeze({ host: c.API_HOST, port: c.API_PORT, logLevel: c.LOG_LEVEL, auditKey, limits, tls: tlsFiles(c), metricsToken: c.API_METRICS_TOKEN });
}

/** The limits when none are configured: the defaults above. */
export const DEFAULT_LIMITS: ApiLimits = loadApiConfig({}).limits;

// Split layout only: where the API takes ingest's commits for its alarm engine
// (api/commit-feed.ts). The broker's own names, as ingest reads them.
const FeedEnv = z.object({
  MQTT_HOST: z.string().trim().min(1).default('127.0.0.1'),
  MQTT_PORT: z.coerce.number().int().min(0).max(65_535).default(1883),
  // The persistent session's client id: the broker keeps commits for it while the API is down.
  API_CLIENT_ID: z.string().regex(/^[A-Za-z0-9._-]{1,40}$/, 'letters, digits, ".", "_" or "-", at most 40').default('arena-api'),
});

export interface CommitFeedConfig {
  readonly broker: { readonly host: string; readonly port: number };
  readonly clientId: string;
}

export function loadCommitFeedConfig(env: Readonly<Record<string, string | undefined>>): CommitFeedConfig {
  const c = parseEnv(FeedEnv, env);
  return Object.freeze({ broker: Object.freeze({ host: c.MQTT_HOST, port: c.MQTT_PORT }), clientId: c.API_CLIENT_ID });
}

// Split layout only: Grafana's own bucket, which the API fills with what the ward may
// show (stores/influx/grafana-mirror.ts). Unset: no copy is kept (no Grafana, or the all-in-one hub).
const GrafanaEnv = z.object({
  INFLUX_GRAFANA_BUCKET: z.string().trim().optional(),
  INFLUX_GRAFANA_DATABASE: z.string().trim().optional(),
});

export interface GrafanaBucketConfig {
  readonly bucket: string;
  /** Its InfluxQL database (DBRP mapping on 2.x). */
  readonly database: string;
}

export function loadGrafanaBucketConfig(env: Readonly<Record<string, string | undefined>>): GrafanaBucketConfig | undefined {
  const { INFLUX_GRAFANA_BUCKET: bucket, INFLUX_GRAFANA_DATABASE: database } = parseEnv(GrafanaEnv, env);
  if (!bucket && !database) return undefined;
  if (!bucket || !database) throw new HubError('CONFIG_INVALID', 'INFLUX_GRAFANA_BUCKET and INFLUX_GRAFANA_DATABASE go together');
  return Object.freeze({ bucket, database });
}

/**
 * Everything the API alone (api/main.ts, split layout) reads: the settings above, the
 * process settings (parsed as hub/config.ts does), the shared registry and the telemetry
 * store (hub/split-config.ts), and for the alarm engine it hosts: its settings
 * (alarms/config.ts), the broker it takes ingest's commits from and the service account
 * it logs in with, and Grafana's bucket, if any.
 */
export function loadApiServiceConfig(env: Readonly<Record<string, string | undefined>>) {
  const adapters = loadAdapterConfig({
    ARENA_REGISTRY_URL: env.ARENA_REGISTRY_URL,
    ARENA_STORE: env.ARENA_STORE,
    INFLUX_URL: env.INFLUX_URL,
    INFLUX_TOKEN: env.INFLUX_TOKEN,
    INFLUX_ORG: env.INFLUX_ORG,
    INFLUX_BUCKET: env.INFLUX_BUCKET,
    INFLUX_DATABASE: env.INFLUX_DATABASE,
  });
  const grafana = loadGrafanaBucketConfig({ INFLUX_GRAFANA_BUCKET: env.INFLUX_GRAFANA_BUCKET, INFLUX_GRAFANA_DATABASE: env.INFLUX_GRAFANA_DATABASE });
  if (grafana && adapters.store.kind !== 'influx') throw new HubError('CONFIG_INVALID', 'INFLUX_GRAFANA_BUCKET needs ARENA_STORE=influx');
  // The same bucket would put every participant's data back in front of Grafana.
  if (grafana && adapters.store.kind === 'influx' && (grafana.bucket === adapters.store.bucket || grafana.database === adapters.store.database)) {
    throw new HubError('CONFIG_INVALID', "Grafana's bucket and database must not be the hub's own");
  }
  return Object.freeze({
    process: loadHubConfig({ ARENA_DATA_DIR: env.ARENA_DATA_DIR, ARENA_PROFILES_DIR: env.ARENA_PROFILES_DIR, LOG_LEVEL: env.LOG_LEVEL }),
    api: loadApiConfig(env),
    alarms: loadAlarmConfig({ ALARM_TIME_ZONE: env.ALARM_TIME_ZONE, ALARM_TICK_S: env.ALARM_TICK_S, ALARM_REPLAY_H: env.ALARM_REPLAY_H }),
    adapters,
    grafana,
    feed: loadCommitFeedConfig({ MQTT_HOST: env.MQTT_HOST, MQTT_PORT: env.MQTT_PORT, API_CLIENT_ID: env.API_CLIENT_ID }),
    service: loadServiceAccount({ BROKER_SERVICE_USER: env.BROKER_SERVICE_USER, BROKER_SERVICE_SECRET: env.BROKER_SERVICE_SECRET }),
  });
}
