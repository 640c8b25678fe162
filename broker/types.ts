import type { Aedes } from 'aedes';
import type { Logger } from '../kernel/log.js';
import type { DeviceDirectory, MessageSink } from '../kernel/ports.js';
import type { ProfileSet } from '../device-profiles/load.js';

export interface BrokerLimits {
  /** Larger payloads are not handed to ingest as data (PAYLOAD_TOO_LARGE). */
  readonly maxPayloadBytes: number;
  /** Hard frame limit: a packet whose Remaining Length exceeds it drops the connection. */
  readonly maxPacketBytes: number;
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
  /** Read-only account for an out-of-process ingest: subscribes to device topics, never publishes. */
  readonly serviceAccount?: { readonly username: string; readonly secretHash: string };
}

export interface ListenOptions {
  readonly host: string;
  /** 0 picks a free port. */
  readonly mqttPort: number;
  /** MQTT over WebSocket on path /mqtt; omitted = no WebSocket listener. */
  readonly wsPort?: number;
}

export interface HubBroker {
  readonly aedes: Aedes;
  /** Starts the listeners; resolves with the ports actually bound. */
  listen(opts: ListenOptions): Promise<{ mqttPort: number; wsPort?: number }>;
  /** Stops listening, closes every connection and waits for in-flight sink calls. */
  close(): Promise<void>;
}
