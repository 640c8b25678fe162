import type { InboundMessage } from './telemetry.js';

/**
 * The MQTT contract between the broker and ingest when they run as separate services
 * (broker/main.ts, ingest/main.ts). The broker republishes every device message it
 * accepts, and every message it refuses for a known device, at QoS 1 on
 * `$arena/ingest/{shard}/{deviceId}`, queued in the ingest session's persistence before
 * the device gets its PUBACK. Ingest keeps HANDOFF_SHARDS persistent sessions, one per
 * shard, and acknowledges each message only after it is committed.
 *
 * Why shards: an MQTT client (mqtt.js) handles the messages of one connection one at a
 * time, acknowledging each before it reads the next, so one session commits one message
 * at a time. Several sessions let ingest group-commit several. A device always maps to
 * the same shard, so its messages stay in order. The number is fixed here, not
 * configured, so the two services cannot disagree about it.
 *
 * The device id in the topic is the one the broker authenticated, never one read from
 * the payload; topics starting with '$' are never matched by a device's wildcards
 * [MQTT-4.7.2-1] and devices may not publish on them anyway.
 *
 * The way back, from ingest's commits to the API's alarm engine, is kernel/committed-wire.ts.
 */
export const HANDOFF_SHARDS = 16;
export const HANDOFF_PREFIX = '$arena/ingest/';

/** What the broker decided about the device's message. */
export type HandoffKind = 'message' | 'PAYLOAD_TOO_LARGE' | 'TOPIC_NOT_ALLOWED';
const KINDS: readonly HandoffKind[] = ['message', 'PAYLOAD_TOO_LARGE', 'TOPIC_NOT_ALLOWED'];

export interface Handoff extends InboundMessage {
  readonly kind: HandoffKind;
}

/** FNV-1a over the device id: stable across processes and versions. */
export function shardOf(deviceId: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < deviceId.length; i++) {
    h ^= deviceId.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0) % HANDOFF_SHARDS;
}

export const handoffTopic = (deviceId: string): string => `${HANDOFF_PREFIX}${shardOf(deviceId)}/${deviceId}`;
export const handoffFilter = (shard: number): string => `${HANDOFF_PREFIX}${shard}/+`;

// Envelope: kind (1 byte), receivedAt (float64 BE, epoch ms), topic length (uint16 BE),
// the device's topic (UTF-8), then the device's payload byte for byte.
const HEADER = 1 + 8 + 2;

export function encodeHandoff(h: Handoff): Buffer {
  const topic = Buffer.from(h.topic, 'utf8');
  const head = Buffer.alloc(HEADER);
  head.writeUInt8(KINDS.indexOf(h.kind), 0);
  head.writeDoubleBE(h.receivedAt, 1);
  head.writeUInt16BE(topic.length, 9);
  return Buffer.concat([head, topic, h.payload]);
}

/** The handoff in an MQTT message from the broker, or undefined when it is not one. */
export function decodeHandoff(topic: string, body: Buffer): Handoff | undefined {
  if (!topic.startsWith(HANDOFF_PREFIX) || body.length < HEADER) return undefined;
  const levels = topic.slice(HANDOFF_PREFIX.length).split('/');
  const deviceId = levels[1];
  const kind = KINDS[body.readUInt8(0)];
  const topicLength = body.readUInt16BE(9);
  if (levels.length !== 2 || !deviceId || !kind || body.length < HEADER + topicLength) return undefined;
  return {
    kind,
    deviceId,
    receivedAt: body.readDoubleBE(1),
    topic: body.subarray(HEADER, HEADER + topicLength).toString('utf8'),
    payload: body.subarray(HEADER + topicLength),
  };
}
