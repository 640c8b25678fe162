import { HubError } from './errors.js';

/**
 * What flows from a device to the store: an inbound MQTT message, the points it is
 * normalised into, or the rejection that explains why it was not.
 */

/** A device family named in the catalogue (catalogue/families.yaml and an arena's own files). */
export type Family = string;

/** One MQTT PUBLISH as the hub received it from an authenticated device. */
export interface InboundMessage {
  readonly deviceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt: number; // epoch ms, hub clock
}

/**
 * Identity of a message for exactly-once storage: the first 64 bits of
 * SHA-256(deviceId, topic, payload). A redelivery (MQTT DUP, or a device resending
 * after a lost PUBACK) carries the same bytes and so the same id.
 */
export type MessageId = bigint;

interface PointBase {
  readonly messageId: MessageId;
  readonly seq: number; // index of the point within its message
  readonly deviceId: string;
  readonly profileId: string;
  /** The version of the profile that decoded the message (its `version:`); absent on points stored before versions were recorded. */
  readonly profileVersion?: string | null;
  readonly family: Family;
  readonly siteId: string | null;
  readonly roomId: string | null;
  readonly trialId: string | null;
  readonly participantId: string | null;
  readonly name: string; // measurement (readings) or event type (events)
  readonly deviceTime: number; // epoch ms, device clock
  readonly receivedAt: number; // epoch ms, hub clock
  readonly clockSkewed: boolean; // device clock differs from the hub's beyond the allowed skew
}

export interface Reading extends PointBase {
  readonly kind: 'reading';
  readonly value: number;
  readonly unit: string; // UCUM
  /** Fields of the record the profile does not map, kept when the profile says `unmapped: keep`. */
  readonly attributes?: Readonly<Record<string, string | number | boolean>>;
}

export interface HubEvent extends PointBase {
  readonly kind: 'event';
  readonly alertCode: string | null; // VKP alert code, e.g. "4.1" Fall
  readonly dispenseCode: string | null; // VKP medication-dispense event code
  readonly severity: Severity;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
}

export type Point = Reading | HubEvent;

/** VKP severity levels: 0 not reported, 10 normal, 20 moderate, 30 serious, 40 critical. */
export type Severity = 0 | 10 | 20 | 30 | 40;
export const SEVERITIES: readonly Severity[] = [0, 10, 20, 30, 40];

export const RejectionCodes = [
  'PAYLOAD_TOO_LARGE',
  'PAYLOAD_NOT_JSON',
  'SENML_INVALID',
  'SCHEMA_VIOLATION',
  'UNIT_UNKNOWN',
  'EVENT_UNKNOWN',
  'DEVICE_MISMATCH',
  'TIME_INVALID',
  'TIME_OUT_OF_RANGE',
  'TOPIC_NOT_ALLOWED',
  'NO_POINTS',
  // A mapped field that is absent (and not optional) or cannot be read as its measurement's type.
  'VALUE_MISSING',
  'VALUE_INVALID',
  // Outside the catalogue's plausible range for the measurement.
  'VALUE_OUT_OF_RANGE',
  // No message shape of the profile matches the topic and discriminator.
  'SHAPE_UNKNOWN',
  // Fields the profile does not map, reported (profile `unmapped: report`); the record's points are stored.
  'FIELD_UNMAPPED',
] as const;
export type RejectionCode = (typeof RejectionCodes)[number];

/**
 * A message the hub refused to normalise. Data, not an exception: stored, counted, shown
 * to the vendor. Attributed like a point, to whatever the device was assigned to when
 * the message arrived: its raw payload may describe the participant (a fall and its
 * zone, a missed dose naming the medicine), so it is released under the same consent.
 */
export interface Rejection {
  readonly messageId: MessageId;
  readonly deviceId: string;
  readonly profileId: string | null;
  readonly siteId: string | null;
  readonly roomId: string | null;
  readonly trialId: string | null;
  readonly participantId: string | null;
  readonly topic: string;
  readonly code: RejectionCode;
  readonly path: string; // JSON path of the offending field, "" for the whole payload
  readonly message: string;
  /** Raw payload as received (truncated when over the size limit); null once its participant's data was erased. */
  readonly payload: string | null;
  readonly receivedAt: number;
}

/** One unit of group commit: everything ingest decided about a set of messages. */
export interface IngestBatch {
  readonly messages: readonly { readonly id: MessageId; readonly deviceId: string; readonly receivedAt: number }[];
  readonly points: readonly Point[];
  readonly rejections: readonly Rejection[];
}

/**
 * The port's batch rule (kernel/ports.ts TelemetryStore): a point or rejection must
 * belong to a message listed in the same batch, or nothing would record it for
 * exactly-once and a redelivery would store it again. Such a batch is a caller bug,
 * refused whole before anything is written, with the same code by every adapter.
 */
export function assertBatchConsistent(batch: IngestBatch): void {
  const listed = new Set(batch.messages.map((m) => m.id));
  const orphan = batch.points.find((p) => !listed.has(p.messageId)) ?? batch.rejections.find((r) => !listed.has(r.messageId));
  if (orphan) throw new HubError('VALIDATION_FAILED', `batch refused: message ${orphan.messageId} has data but is not listed in batch.messages`);
}

/**
 * Stores keep times as whole epoch milliseconds (64-bit integers): a batch with any other
 * time is refused whole, before anything is written, with the same code by every store
 * that writes it. `maxMs`: the largest magnitude the engine keeps (InfluxDB's nanoseconds
 * end sooner than JavaScript's safe integers).
 */
export function assertWholeMilliseconds(batch: IngestBatch, maxMs = Number.MAX_SAFE_INTEGER): void {
  const times = [
    ...batch.points.flatMap((p) => [p.deviceTime, p.receivedAt]),
    ...batch.rejections.map((r) => r.receivedAt),
    ...batch.messages.map((m) => m.receivedAt),
  ];
  const bad = times.find((t) => !Number.isSafeInteger(t) || Math.abs(t) > maxMs);
  if (bad !== undefined) throw new HubError('VALIDATION_FAILED', `batch refused: time ${bad} is not a whole epoch millisecond the store can keep`);
}

export interface WriteResult {
  readonly storedMessages: number;
  readonly duplicateMessages: number;
}

/** A rejection as erasure leaves it: still counted, with nothing of the participant's (the message may quote the payload). */
export function erasedRejection(r: Rejection): Rejection {
  return { ...r, participantId: null, payload: null, message: '' };
}
