import type { Aedes } from 'aedes';
import type { AedesPersistence } from './aedes-compat.js';
import type { Logger } from '../kernel/log.js';
import type { TlsFiles } from '../kernel/tls.js';
import type { DeviceDirectory, MessageSink } from '../kernel/ports.js';
import type { DeviceTraffic } from '../kernel/device-traffic.js';
import type { ProfileSet } from '../device-profiles/load.js';
import type { InFlightLimits } from './in-flight.js';
import type { LoginThrottleOptions } from './login-throttle.js';
import type { QuotaLimits, QuotaStats } from './rate-limit.js';
import type { SessionStore } from './sessions.js';

export type { AedesPersistence } from './aedes-compat.js';

export interface BrokerLimits {
  /** Larger payloads are not handed to ingest as data (PAYLOAD_TOO_LARGE). */
  readonly maxPayloadBytes: number;
  /** Hard frame limit: a packet whose Remaining Length exceeds it drops the connection. */
  readonly maxPacketBytes: number;
  /** Longest topic name or filter in bytes of UTF-8; a longer one closes the connection. */
  readonly maxTopicLength: number;
  /** Passed to aedes, which clamps it to 1..100. */
  readonly maxTopicLevels: number;
}

/** Why the broker refused a device's message; ingest records it as a Rejection. */
export type BrokerRejectionCode = 'PAYLOAD_TOO_LARGE' | 'TOPIC_NOT_ALLOWED';

/**
 * Records a refused message for a known device. Resolves once recorded; the broker
 * acknowledges an oversized payload only after that.
 */
export type RejectSink = (deviceId: string, topic: string, code: BrokerRejectionCode, payload: Buffer) => Promise<void>;

export interface BrokerDeps {
  readonly directory: DeviceDirectory;
  readonly profiles: ProfileSet;
  /** In-process ingest. When set, a QoS 1/2 acknowledgement follows the sink's commit. */
  readonly sink?: MessageSink;
  readonly reject?: RejectSink;
  readonly logger: Logger;
  readonly limits: BrokerLimits;
  /** The account of split ingest and API: subscribes to device topics and the handoff; publishes only on `$arena/committed`. */
  readonly serviceAccount?: { readonly username: string; readonly secretHash: string };
  /**
   * Split layout (broker/main.ts): instead of a sink, every accepted or refused device
   * message is handed to ingest's persistent sessions (kernel/handoff.ts) and the device
   * gets its PUBACK only once that is queued in `persistence`. Replaces sink and reject.
   */
  readonly handoff?: boolean;
  /**
   * Split layout: each commit forward ingest publishes (kernel/committed-wire.ts) passes
   * through this before it is routed or queued; erasure leaves out the points of erased
   * participants there (broker/erasure.ts).
   */
  readonly redactCommitted?: (payload: Buffer) => Buffer;
  /** aedes persistence (sessions, subscriptions, queued and in-flight messages); default aedes's in-memory one. */
  readonly persistence?: AedesPersistence;
  /** Which client ids have a session, for CONNACK Session Present; default in memory. Must live as long as `persistence`. */
  readonly sessions?: SessionStore;
  /** aedes's message bus shared by several instances (mqemitter-redis); default the in-process one. */
  readonly mq?: unknown;
  readonly connections?: Partial<ConnectionLimits>;
  /** Per-device message rate; over it a device's messages wait (they are not dropped). */
  readonly publishRate?: Partial<RateLimitOptions>;
  /** Per-device byte rate, vendor-wide rates, and how long over quota before a disconnect (broker/rate-limit.ts). */
  readonly quota?: Partial<QuotaSettings>;
  /** Publishes handled at once, per connection and in all; over them the broker stops reading (broker/in-flight.ts). */
  readonly inFlight?: Partial<InFlightLimits>;
  readonly loginThrottle?: Partial<LoginThrottleOptions>;
  /**
   * Whether the hub takes new messages now (the all-in-one hub's disk watch). While it is
   * closed, publishes wait for it without a PUBACK (their connections' reads are held by
   * the in-flight bound) and new device connections get CONNACK 3 with the reason logged.
   */
  readonly admission?: Admission;
  /**
   * Certificate and key for the TLS listeners, reloaded when the files change; with a
   * client CA, devices may log in with a certificate it issued instead of a secret.
   */
  readonly tls?: TlsFiles;
  /** Told of every device's connections, publishes and disconnections (conformance runs). */
  readonly traffic?: DeviceTraffic;
  /** Told of every refused CONNECT, by CONNACK return code (the metrics' login refusals). */
  readonly onLoginRefused?: (returnCode: number) => void;
}

export interface Admission {
  /** Why nothing new is taken now; undefined while it is. */
  closedBecause(): string | undefined;
  /** Resolves once messages are taken again. */
  whenOpen(): Promise<void>;
}

/** Per-device message rate; devices tracked at once. */
export interface RateLimitOptions {
  readonly perSecond: number;
  readonly burst: number;
  readonly maxEntries: number;
}

export interface QuotaSettings {
  readonly deviceBytes: QuotaLimits['bytes'];
  readonly vendor: QuotaLimits;
  readonly disconnectAfterMs: number;
}

export interface ConnectionLimits {
  /** A connection that has not sent CONNECT by then is closed. */
  readonly connectTimeoutMs: number;
  /** Per listener (TCP, WebSocket); further connections are refused by the OS accept path. */
  readonly maxConnections: number;
}

export interface ListenOptions {
  readonly host: string;
  /** Plain MQTT; 0 picks a free port, omitted = no plain MQTT listener. */
  readonly mqttPort?: number;
  /** MQTT over WebSocket on path /mqtt; omitted = no WebSocket listener. */
  readonly wsPort?: number;
  /** MQTT over TLS (8883 by convention); needs BrokerDeps.tls. */
  readonly tlsPort?: number;
  /** MQTT over secure WebSocket on path /mqtt; needs BrokerDeps.tls. */
  readonly wssPort?: number;
}

/** The ports actually bound, for the listeners asked for. */
export interface ListeningPorts {
  readonly mqttPort?: number;
  readonly wsPort?: number;
  readonly tlsPort?: number;
  readonly wssPort?: number;
}

export interface HubBroker {
  readonly aedes: Aedes;
  /** Starts the listeners; resolves with the ports actually bound. */
  listen(opts: ListenOptions): Promise<ListeningPorts>;
  /** Stops listening, closes every connection and waits for in-flight sink calls. */
  close(): Promise<void>;
  /** Messages slowed and connections closed by the quotas, in all and per device and vendor. */
  quotaStats(): QuotaStats;
  /** Clients connected, publishes in flight and connections held at the in-flight bound, now. */
  loadStats(): { readonly connections: number; readonly inFlight: number; readonly heldConnections: number };
}
