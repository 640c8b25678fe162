import { z } from 'zod';
import { parseEnv } from '../kernel/config-env.js';
import { loadHubConfig } from '../hub/config.js';
import { loadAdapterConfig, loadServiceAccount } from '../hub/split-config.js';
import { DEFAULT_IN_FLIGHT } from './in-flight.js';
import { TlsEnv, pairedTlsFiles, path, tlsFiles } from '../hub/tls-config.js';
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

/**
 * Broker settings from an env-like record. Only composition roots pass process.env;
 * broker code never reads it.
 */

// Decimal digits only: z.coerce.number would take "", " 1 " or "0x10", and "" (a variable
// set but left empty) would silently mean port 0 = a random port.
const int = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? String(fallback) : v.trim()))
    .pipe(z.string().regex(/^\d+$/, 'must be a whole number'))
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

export const BrokerConfig = z
  .object({
    MQTT_HOST: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? '127.0.0.1' : v.trim())),
    MQTT_PORT: int(1883, 0, 65535),
    MQTT_WS_PORT: int(9001, 0, 65535),
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
    MQTT_TLS_PORT: int(8883, 0, 65535),
    MQTT_WSS_PORT: int(8884, 0, 65535),
    ...TlsEnv,
    // Split layout: GET /metrics on this port (hub/metrics-server.ts), on MQTT_HOST; unset: not served.
    BROKER_METRICS_PORT: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))
      .pipe(z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(z.number().int().min(0).max(65535)).optional()),
    // The CA that issues device certificates; unset: devices log in with their secret only.
    MQTT_DEVICE_CA_FILE: path,
  })
  .refine((e) => e.MQTT_PLAIN === 'on' || e.TLS_CERT_FILE !== undefined, {
    path: ['MQTT_PLAIN'],
    message: 'off needs TLS_CERT_FILE and TLS_KEY_FILE, or the broker would have no listener',
  })
  .refine((e) => e.MQTT_DEVICE_CA_FILE === undefined || e.TLS_CERT_FILE !== undefined, {
    path: ['MQTT_DEVICE_CA_FILE'],
    message: 'device certificates travel over TLS: set TLS_CERT_FILE and TLS_KEY_FILE too',
  })
  .refine((e) => e.MQTT_MAX_PAYLOAD_BYTES <= e.MQTT_MAX_PACKET_BYTES, {
    path: ['MQTT_MAX_PAYLOAD_BYTES'],
    message: 'must not exceed MQTT_MAX_PACKET_BYTES (a payload travels inside one packet)',
  })
  .superRefine(pairedTlsFiles)
  .transform((e) => ({
    host: e.MQTT_HOST,
    mqttPort: e.MQTT_PORT,
    wsPort: e.MQTT_WS_PORT,
    plain: e.MQTT_PLAIN === 'on',
    tlsPort: e.MQTT_TLS_PORT,
    wssPort: e.MQTT_WSS_PORT,
    tls: tlsFiles(e, e.MQTT_DEVICE_CA_FILE),
    metricsPort: e.BROKER_METRICS_PORT,
    limits: {
      maxPayloadBytes: e.MQTT_MAX_PAYLOAD_BYTES,
      maxPacketBytes: e.MQTT_MAX_PACKET_BYTES,
      maxTopicLength: e.MQTT_MAX_TOPIC_LENGTH,
      maxTopicLevels: e.MQTT_MAX_TOPIC_LEVELS,
    },
    connections: { connectTimeoutMs: e.MQTT_CONNECT_TIMEOUT_MS, maxConnections: e.MQTT_MAX_CONNECTIONS },
    publishRate: { perSecond: e.MQTT_DEVICE_RATE, burst: e.MQTT_DEVICE_BURST },
    inFlight: { perConnection: e.MQTT_CONNECTION_MAX_IN_FLIGHT, total: e.MQTT_MAX_IN_FLIGHT },
    quota: {
      deviceBytes: { perSecond: e.MQTT_DEVICE_BYTES_PER_S, burst: e.MQTT_DEVICE_BYTE_BURST },
      vendor: {
        messages: { perSecond: e.MQTT_VENDOR_RATE, burst: e.MQTT_VENDOR_BURST },
        bytes: { perSecond: e.MQTT_VENDOR_BYTES_PER_S, burst: e.MQTT_VENDOR_BYTE_BURST },
      },
      disconnectAfterMs: e.MQTT_QUOTA_DISCONNECT_AFTER_MS,
    },
  }));

type Parsed = z.output<typeof BrokerConfig>;
export type BrokerConfig = Readonly<Pick<Parsed, 'host' | 'mqttPort' | 'wsPort' | 'plain' | 'tlsPort' | 'wssPort' | 'tls' | 'metricsPort'>> & {
  readonly limits: Readonly<Parsed['limits']>;
  readonly connections: Readonly<Parsed['connections']>;
  readonly publishRate: Readonly<Parsed['publishRate']>;
  readonly inFlight: Readonly<Parsed['inFlight']>;
  readonly quota: Readonly<Parsed['quota']>;
};

/** Parses and freezes the broker settings; throws CONFIG_INVALID naming every bad variable. */
export function loadBrokerConfig(env: Record<string, string | undefined>): BrokerConfig {
  const { limits, connections, publishRate, inFlight, quota, ...rest } = parseEnv(BrokerConfig, env);
  return Object.freeze({
    ...rest,
    limits: Object.freeze(limits),
    connections: Object.freeze(connections),
    publishRate: Object.freeze(publishRate),
    inFlight: Object.freeze(inFlight),
    quota: Object.freeze(quota),
  });
}

/** The listeners the settings ask for: plain ones unless switched off, TLS ones with a certificate. */
export function listenOptions(c: BrokerConfig): ListenOptions {
  return {
    host: c.host,
    ...(c.plain ? { mqttPort: c.mqttPort, wsPort: c.wsPort } : {}),
    ...(c.tls ? { tlsPort: c.tlsPort, wssPort: c.wssPort } : {}),
  };
}

/**
 * Everything the broker alone (broker/main.ts, split layout) reads: the settings above,
 * the process settings (parsed as hub/config.ts does), the shared registry and the
 * service account ingest logs in with (hub/split-config.ts).
 */
export function loadBrokerServiceConfig(env: Record<string, string | undefined>) {
  return Object.freeze({
    process: loadHubConfig({ ARENA_DATA_DIR: env.ARENA_DATA_DIR, ARENA_PROFILES_DIR: env.ARENA_PROFILES_DIR, LOG_LEVEL: env.LOG_LEVEL }),
    broker: loadBrokerConfig(env),
    adapters: loadAdapterConfig({ ARENA_REGISTRY_URL: env.ARENA_REGISTRY_URL }),
    service: loadServiceAccount({ BROKER_SERVICE_USER: env.BROKER_SERVICE_USER, BROKER_SERVICE_SECRET: env.BROKER_SERVICE_SECRET }),
  });
}
