import { z } from 'zod';
import { AlarmEnv, alarmConfig } from '../alarms/config.js';
import { parseAuditKey } from '../audit/key.js';
import { TlsEnv, pairedTlsFiles, tlsFiles } from '../service/tls-config.js';
import type { TlsFiles } from '../kernel/tls.js';
import type { PushSettings } from '../fhir/push.js';
import {
  adapterConfig,
  checkAdapters,
  checkServiceBroker,
  clientId,
  int,
  parseEnv,
  port,
  PROCESS_VARS,
  processConfig,
  SERVICE_ACCOUNT_VARS,
  SERVICE_BROKER_VARS,
  serviceAccount,
  serviceBroker,
  SharedEnv,
  STORE_VARS,
  text,
  withChecks,
} from '../service/config.js';

/** The API's own variables. */
export const ApiEnv = z.object({
  API_HOST: text().default('127.0.0.1'),
  API_PORT: port(8080),
  // Base64, at least 32 bytes: the audit log's HMAC key (audit/key.ts). Unset: a key file in
  // the data folder. Empty counts as unset here alone: .env.example leaves it blank for
  // compose to pass on, and the key file is the documented default.
  ARENA_AUDIT_KEY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return undefined;
      try {
        return parseAuditKey(v, 'ARENA_AUDIT_KEY');
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be base64 of at least 32 bytes, or unset for a key file in the data folder', input: v });
        return z.NEVER;
      }
    }),
  // Requests per window, per token (authenticated) and per remote address (before the token is known).
  API_RATE_MAX: int(600, 1, 10_000_000),
  API_RATE_ADDRESS_MAX: int(1_200, 1, 10_000_000),
  API_RATE_WINDOW_S: int(60, 1, 3_600),
  API_LIVE_MAX_PER_TOKEN: int(4, 1, 10_000),
  API_LIVE_MAX_TOTAL: int(500, 1, 1_000_000),
  API_EXPORTS_PER_PRINCIPAL: int(2, 1, 1_000),
  API_EXPORTS_TOTAL: int(4, 1, 10_000),
  // Bytes of export files on disk at once (being written or waiting to be sent), across all exports.
  API_EXPORT_TEMP_MAX_BYTES: int(2 * 1024 ** 3, 1, 2 ** 50),
  // Trial reports: a cell describing fewer participants than this is suppressed for every audience but arena staff.
  API_REPORT_MIN_CELL: int(5, 1, 1_000_000),
  // The Prometheus scraper's bearer token for GET /metrics (api/metrics.ts); unset: admin tokens only.
  API_METRICS_TOKEN: text().min(32, 'at least 32 characters (openssl rand -hex 32)').optional(),
  // The identifier system FHIR resources name participants under (their pseudonym for the caller's audience; README "FHIR").
  FHIR_SUBJECT_SYSTEM: z
    .string()
    .regex(/^(urn:[a-z0-9][a-z0-9-]{0,31}:\S+|https?:\/\/\S+)$/i, 'a URI: urn:… or http(s)://…')
    .default('urn:arena-hub:participant-pseudonym'),
  // Set: each committed reading and alarm change of a consenting participant is POSTed there as a FHIR transaction (all-in-one hub; fhir/push.ts).
  FHIR_PUSH_URL: z.url({ protocol: /^https?$/ }).optional(),
  FHIR_PUSH_TOKEN: text().optional(),
  FHIR_PUSH_AUDIENCE: z.enum(['care.live', 'research']).default('care.live'),
  // The push queue's bound on disk; past it new items are refused (PUSH_QUEUE_FULL) until the server takes what waits.
  FHIR_PUSH_MAX_BYTES: int(64 * 1024 * 1024, 64 * 1024, 2 ** 40),
  FHIR_PUSH_RETRY_MIN_MS: int(500, 1, 3_600_000),
  FHIR_PUSH_RETRY_MAX_MS: int(60_000, 1, 3_600_000),
  // Set: HTTPS only, on API_PORT (README "TLS").
  ...TlsEnv,
});

/** The FHIR API's settings (api/routes/fhir.ts), and the push when one is configured (fhir/push.ts). */
export interface FhirSettings {
  readonly subjectSystem: string;
  readonly push?: PushSettings;
}

/** What one caller, and all callers together, may hold of the API (README, "API limits"). */
export interface ApiLimits {
  readonly rate: { readonly max: number; readonly addressMax: number; readonly windowMs: number };
  readonly live: { readonly perToken: number; readonly total: number };
  readonly exports: { readonly perPrincipal: number; readonly total: number; readonly tempMaxBytes: number };
  /** Trial reports (api/routes/reports.ts); the default when absent. */
  readonly reports?: { readonly minCellParticipants: number };
}

export interface ApiConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  /** The audit key from the configuration; undefined: the key file in the data folder. */
  readonly auditKey: Buffer | undefined;
  readonly limits: ApiLimits;
  /** Certificate and key for HTTPS; undefined: plain HTTP. */
  readonly tls: TlsFiles | undefined;
  readonly metricsToken: string | undefined;
  readonly fhir: FhirSettings;
}

export const apiConfig = (c: z.output<typeof ApiEnv>): ApiConfig =>
  Object.freeze({
    host: c.API_HOST,
    port: c.API_PORT,
    auditKey: c.ARENA_AUDIT_KEY,
    limits: Object.freeze({
      rate: Object.freeze({ max: c.API_RATE_MAX, addressMax: c.API_RATE_ADDRESS_MAX, windowMs: c.API_RATE_WINDOW_S * 1000 }),
      live: Object.freeze({ perToken: c.API_LIVE_MAX_PER_TOKEN, total: c.API_LIVE_MAX_TOTAL }),
      exports: Object.freeze({ perPrincipal: c.API_EXPORTS_PER_PRINCIPAL, total: c.API_EXPORTS_TOTAL, tempMaxBytes: c.API_EXPORT_TEMP_MAX_BYTES }),
      reports: Object.freeze({ minCellParticipants: c.API_REPORT_MIN_CELL }),
    }),
    tls: tlsFiles(c),
    metricsToken: c.API_METRICS_TOKEN,
    fhir: Object.freeze({
      subjectSystem: c.FHIR_SUBJECT_SYSTEM,
      ...(c.FHIR_PUSH_URL
        ? {
            push: Object.freeze({
              url: c.FHIR_PUSH_URL,
              token: c.FHIR_PUSH_TOKEN,
              audience: c.FHIR_PUSH_AUDIENCE,
              maxBytes: c.FHIR_PUSH_MAX_BYTES,
              retryMinMs: c.FHIR_PUSH_RETRY_MIN_MS,
              retryMaxMs: Math.max(c.FHIR_PUSH_RETRY_MIN_MS, c.FHIR_PUSH_RETRY_MAX_MS),
            }),
          }
        : {}),
    }),
  });

/** The API's settings alone (the all-in-one hub parses them with the rest: hub/config.ts); throws CONFIG_INVALID naming every bad variable. */
export const loadApiConfig = (env: Readonly<Record<string, string | undefined>>): ApiConfig => apiConfig(parseEnv(withChecks(ApiEnv, pairedTlsFiles), env));

/** The limits when none are configured: the defaults above. */
export const DEFAULT_LIMITS: ApiLimits = loadApiConfig({}).limits;

/** The FHIR settings when none are configured. */
export const DEFAULT_FHIR: FhirSettings = loadApiConfig({}).fhir;

/**
 * The API alone (api/main.ts, split layout), in one schema: its settings above, the
 * process settings, the shared registry and the telemetry store, and for the alarm engine
 * it hosts: the engine's settings (ALARM_TIME_ZONE, ALARM_TICK_S, ALARM_REPLAY_H:
 * alarms/config.ts), the broker it takes ingest's commits
 * from (api/commit-feed.ts, over TLS with MQTT_TLS_CA_FILE, over a persistent session API_CLIENT_ID that the broker keeps
 * while the API is down) with the service account, and Grafana's own bucket, which the API
 * fills with what the ward may show (stores/influx/grafana-mirror.ts; unset: no copy).
 */
const ApiServiceEnv = withChecks(
  ApiEnv.extend(AlarmEnv.shape)
    .extend(SharedEnv.pick({ ...PROCESS_VARS, ARENA_REGISTRY_URL: true, ...STORE_VARS, ...SERVICE_BROKER_VARS, ...SERVICE_ACCOUNT_VARS }).shape)
    .extend({
      API_CLIENT_ID: clientId().default('arena-api'),
      INFLUX_GRAFANA_BUCKET: text().optional(),
      // Its InfluxQL database (DBRP mapping on 2.x).
      INFLUX_GRAFANA_DATABASE: text().optional(),
    }),
  checkAdapters,
  checkServiceBroker,
  pairedTlsFiles,
  (e, ctx) => {
    const bucket = e.INFLUX_GRAFANA_BUCKET;
    const database = e.INFLUX_GRAFANA_DATABASE;
    const problem = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message, input: undefined });
    if ((bucket === undefined) !== (database === undefined))
      problem(bucket === undefined ? 'INFLUX_GRAFANA_BUCKET' : 'INFLUX_GRAFANA_DATABASE', 'INFLUX_GRAFANA_BUCKET and INFLUX_GRAFANA_DATABASE go together');
    if (bucket === undefined && database === undefined) return;
    if (e.ARENA_STORE !== 'influx') problem('INFLUX_GRAFANA_BUCKET', 'needs ARENA_STORE=influx');
    // The same bucket would put every participant's data back in front of Grafana.
    else if (bucket === e.INFLUX_BUCKET || database === e.INFLUX_DATABASE)
      problem('INFLUX_GRAFANA_BUCKET', "Grafana's bucket and database must not be the hub's own");
  },
);

export function loadApiServiceConfig(env: Readonly<Record<string, string | undefined>>) {
  const e = parseEnv(ApiServiceEnv, env);
  const grafana =
    e.INFLUX_GRAFANA_BUCKET && e.INFLUX_GRAFANA_DATABASE ? Object.freeze({ bucket: e.INFLUX_GRAFANA_BUCKET, database: e.INFLUX_GRAFANA_DATABASE }) : undefined;
  return Object.freeze({
    process: processConfig(e),
    api: apiConfig(e),
    alarms: alarmConfig(e),
    adapters: adapterConfig(e),
    grafana,
    feed: Object.freeze({ broker: serviceBroker(e), clientId: e.API_CLIENT_ID }),
    service: serviceAccount(e),
  });
}
