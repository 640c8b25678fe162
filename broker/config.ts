import { z } from 'zod';
import {
  adapterConfig,
  int,
  optionalInt,
  parseEnv,
  port,
  PROCESS_VARS,
  processConfig,
  SERVICE_ACCOUNT_VARS,
  serviceAccount,
  SharedEnv,
  withChecks,
} from '../service/config.js';
import { DEFAULT_IN_FLIGHT } from './in-flight.js';
import { TlsEnv, pairedTlsFiles, path, tlsFiles } from '../service/tls-config.js';
import type { TlsFiles } from '../kernel/tls.js';
import type { ListenOptions } from './types.js';

export const DEFAULT_CONNECTIONS = { connectTimeoutMs: 10_000, maxConnections: 10_000 } as const;
export const DEFAULT_PUBLISH_RATE = { perSecond: 100, burst: 500, maxEntries: 100_000 } as const;
const MiB = 1024 * 1024;
/**
 * Byte and vendor-wide quotas beside the per-device message rate above (broker/rate-limit.ts).
 * A device's byte burst holds a few maximum-size messages. The vendor-wide defaults are
 * above what one hub takes in (the benchmark's single vendor must not meet them): an
 * arena with several vendors sets them to its share per vendor.
 */
export const DEFAULT_QUOTA = {
  deviceBytes: { perSecond: 256 * 1024, burst: 2 * MiB },
  vendor: { messages: { perSecond: 50_000, burst: 250_000 }, bytes: { perSecond: 64 * MiB, burst: 256 * MiB } },
  disconnectAfterMs: 60_000,
} as const;

/** The broker's own variables (MQTT_HOST, MQTT_PORT and MQTT_TLS_PORT are shared with the services that connect to it). */
export const BrokerEnv = SharedEnv.pick({ MQTT_HOST: true, MQTT_PORT: true, MQTT_TLS_PORT: true }).extend({
  MQTT_WS_PORT: port(9001),
  MQTT_MAX_PAYLOAD_BYTES: int(65536, 1, 256 * 1024 * 1024),
  MQTT_MAX_PACKET_BYTES: int(262144, 16, 256 * 1024 * 1024),
  MQTT_MAX_TOPIC_LENGTH: int(256, 1, 65535),
  // aedes clamps its maxTopicLevels to 1..100; refuse what it would silently change.
  MQTT_MAX_TOPIC_LEVELS: int(8, 1, 100),
  MQTT_CONNECT_TIMEOUT_MS: int(DEFAULT_CONNECTIONS.connectTimeoutMs, 100, 600_000),
  MQTT_MAX_CONNECTIONS: int(DEFAULT_CONNECTIONS.maxConnections, 1, 1_000_000),
  MQTT_DEVICE_RATE: int(DEFAULT_PUBLISH_RATE.perSecond, 1, 1_000_000),
  MQTT_DEVICE_BURST: int(DEFAULT_PUBLISH_RATE.burst, 1, 1_000_000),
  MQTT_DEVICE_BYTES_PER_S: int(DEFAULT_QUOTA.deviceBytes.perSecond, 1, 2 ** 40),
  MQTT_DEVICE_BYTE_BURST: int(DEFAULT_QUOTA.deviceBytes.burst, 1, 2 ** 40),
  MQTT_VENDOR_RATE: int(DEFAULT_QUOTA.vendor.messages.perSecond, 1, 10_000_000),
  MQTT_VENDOR_BURST: int(DEFAULT_QUOTA.vendor.messages.burst, 1, 100_000_000),
  MQTT_VENDOR_BYTES_PER_S: int(DEFAULT_QUOTA.vendor.bytes.perSecond, 1, 2 ** 40),
  MQTT_VENDOR_BYTE_BURST: int(DEFAULT_QUOTA.vendor.bytes.burst, 1, 2 ** 40),
  // 0: a device over quota is slowed down for as long as it stays over, never disconnected.
  MQTT_QUOTA_DISCONNECT_AFTER_MS: int(DEFAULT_QUOTA.disconnectAfterMs, 0, 86_400_000),
  MQTT_CONNECTION_MAX_IN_FLIGHT: int(DEFAULT_IN_FLIGHT.perConnection, 1, 1_000_000),
  MQTT_MAX_IN_FLIGHT: int(DEFAULT_IN_FLIGHT.total, 1, 10_000_000),
  // off: no plain MQTT or WebSocket listener at all, only the TLS ones (README "TLS").
  MQTT_PLAIN: z.enum(['on', 'off'], { error: 'must be on or off' }).default('on'),
  MQTT_WSS_PORT: port(8884),
  ...TlsEnv,
  // Split layout: GET /metrics on this port (service/metrics-server.ts), on MQTT_HOST; unset: not served.
  BROKER_METRICS_PORT: optionalInt(0, 65_535),
  // The CA that issues device certificates; unset: devices log in with their secret only.
  MQTT_DEVICE_CA_FILE: path,
});
type BrokerEnv = z.output<typeof BrokerEnv>;

export function checkBroker(e: BrokerEnv, ctx: z.core.$RefinementCtx): void {
  if (e.MQTT_PLAIN === 'off' && e.TLS_CERT_FILE === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['MQTT_PLAIN'],
      message: 'off needs TLS_CERT_FILE and TLS_KEY_FILE, or the broker would have no listener',
      input: e.MQTT_PLAIN,
    });
  }
  if (e.MQTT_DEVICE_CA_FILE !== undefined && e.TLS_CERT_FILE === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['MQTT_DEVICE_CA_FILE'],
      message: 'device certificates travel over TLS: set TLS_CERT_FILE and TLS_KEY_FILE too',
      input: e.MQTT_DEVICE_CA_FILE,
    });
  }
  pairedTlsFiles(e, ctx);
  const { MQTT_MAX_PAYLOAD_BYTES: payload, MQTT_MAX_PACKET_BYTES: packet } = e;
  if (typeof payload === 'number' && typeof packet === 'number' && payload > packet) {
    ctx.addIssue({
      code: 'custom',
      path: ['MQTT_MAX_PAYLOAD_BYTES'],
      message: 'must not exceed MQTT_MAX_PACKET_BYTES (a payload travels inside one packet)',
      input: e.MQTT_MAX_PAYLOAD_BYTES,
    });
  }
}

export interface BrokerConfig {
  readonly host: string;
  readonly mqttPort: number;
  readonly wsPort: number;
  /** Whether the plain MQTT and WebSocket listeners run (MQTT_PLAIN). */
  readonly plain: boolean;
  readonly tlsPort: number;
  readonly wssPort: number;
  /** Certificate, key and the device CA, if any; undefined: no TLS listeners. */
  readonly tls: TlsFiles | undefined;
  readonly metricsPort: number | undefined;
  readonly limits: { readonly maxPayloadBytes: number; readonly maxPacketBytes: number; readonly maxTopicLength: number; readonly maxTopicLevels: number };
  readonly connections: { readonly connectTimeoutMs: number; readonly maxConnections: number };
  readonly publishRate: { readonly perSecond: number; readonly burst: number };
  readonly inFlight: { readonly perConnection: number; readonly total: number };
  readonly quota: {
    readonly deviceBytes: { readonly perSecond: number; readonly burst: number };
    readonly vendor: {
      readonly messages: { readonly perSecond: number; readonly burst: number };
      readonly bytes: { readonly perSecond: number; readonly burst: number };
    };
    readonly disconnectAfterMs: number;
  };
}

/** The broker's settings from its parsed variables, frozen. */
export const brokerConfig = (e: BrokerEnv): BrokerConfig =>
  Object.freeze({
    host: e.MQTT_HOST,
    mqttPort: e.MQTT_PORT,
    wsPort: e.MQTT_WS_PORT,
    plain: e.MQTT_PLAIN === 'on',
    tlsPort: e.MQTT_TLS_PORT,
    wssPort: e.MQTT_WSS_PORT,
    tls: tlsFiles(e, e.MQTT_DEVICE_CA_FILE),
    metricsPort: e.BROKER_METRICS_PORT,
    limits: Object.freeze({
      maxPayloadBytes: e.MQTT_MAX_PAYLOAD_BYTES,
      maxPacketBytes: e.MQTT_MAX_PACKET_BYTES,
      maxTopicLength: e.MQTT_MAX_TOPIC_LENGTH,
      maxTopicLevels: e.MQTT_MAX_TOPIC_LEVELS,
    }),
    connections: Object.freeze({ connectTimeoutMs: e.MQTT_CONNECT_TIMEOUT_MS, maxConnections: e.MQTT_MAX_CONNECTIONS }),
    publishRate: Object.freeze({ perSecond: e.MQTT_DEVICE_RATE, burst: e.MQTT_DEVICE_BURST }),
    inFlight: Object.freeze({ perConnection: e.MQTT_CONNECTION_MAX_IN_FLIGHT, total: e.MQTT_MAX_IN_FLIGHT }),
    quota: Object.freeze({
      deviceBytes: { perSecond: e.MQTT_DEVICE_BYTES_PER_S, burst: e.MQTT_DEVICE_BYTE_BURST },
      vendor: {
        messages: { perSecond: e.MQTT_VENDOR_RATE, burst: e.MQTT_VENDOR_BURST },
        bytes: { perSecond: e.MQTT_VENDOR_BYTES_PER_S, burst: e.MQTT_VENDOR_BYTE_BURST },
      },
      disconnectAfterMs: e.MQTT_QUOTA_DISCONNECT_AFTER_MS,
    }),
  });

/** The broker's settings alone (the all-in-one hub parses them with the rest: hub/config.ts); throws CONFIG_INVALID naming every bad variable. */
export const loadBrokerConfig = (env: Readonly<Record<string, string | undefined>>): BrokerConfig =>
  brokerConfig(parseEnv(withChecks(BrokerEnv, checkBroker), env));

/** The listeners the settings ask for: plain ones unless switched off, TLS ones with a certificate. */
export function listenOptions(c: BrokerConfig): ListenOptions {
  return {
    host: c.host,
    ...(c.plain ? { mqttPort: c.mqttPort, wsPort: c.wsPort } : {}),
    ...(c.tls ? { tlsPort: c.tlsPort, wssPort: c.wssPort } : {}),
  };
}

/**
 * The broker alone (broker/main.ts, split layout), in one schema: its settings above, the
 * process settings, the shared registry and the service account ingest logs in with.
 */
const BrokerServiceEnv = withChecks(
  BrokerEnv.extend(SharedEnv.pick({ ...PROCESS_VARS, ARENA_REGISTRY_URL: true, ...SERVICE_ACCOUNT_VARS }).shape).extend({
    // Where sessions and queued messages live: `level`, this broker's own LevelDB under
    // ARENA_DATA_DIR/broker; `redis`, one Redis that several broker instances share (broker/state.ts).
    BROKER_STATE: z.enum(['level', 'redis'], { error: 'must be level or redis' }).default('level'),
    BROKER_REDIS_URL: z
      .string()
      .trim()
      .regex(/^rediss?:\/\/./, 'must be a redis://… URL')
      .optional(),
    // Queued messages handed to a reconnecting client per CONNECT (aedes-persistence-redis' maxSessionDelivery).
    BROKER_REDIS_SESSION_DELIVERY: int(1_000_000, 1, 100_000_000),
  }),
  checkBroker,
  (e, ctx) => {
    if (e.BROKER_STATE === 'redis' && e.BROKER_REDIS_URL === undefined) {
      ctx.addIssue({ code: 'custom', path: ['BROKER_REDIS_URL'], message: 'BROKER_STATE=redis needs the Redis the brokers share', input: undefined });
    }
  },
);

export function loadBrokerServiceConfig(env: Readonly<Record<string, string | undefined>>) {
  const e = parseEnv(BrokerServiceEnv, env);
  const state =
    e.BROKER_STATE === 'redis'
      ? ({ kind: 'redis', url: e.BROKER_REDIS_URL!, sessionDelivery: e.BROKER_REDIS_SESSION_DELIVERY } as const)
      : ({ kind: 'level' } as const);
  return Object.freeze({ process: processConfig(e), broker: brokerConfig(e), adapters: adapterConfig(e), service: serviceAccount(e), state });
}
