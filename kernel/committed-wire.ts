import { z } from 'zod';
import { SEVERITIES, type Family, type MessageId, type Point, type Severity } from './telemetry.js';

/**
 * The MQTT contract from split ingest back to the split API (ingest/commit-forward.ts,
 * api/commit-feed.ts): after each commit, ingest publishes the points of the committed
 * messages at QoS 1 on COMMITTED_TOPIC, and the API's alarm engine and live streams take
 * them from a persistent session, as the all-in-one hub hands them over in-process.
 *
 * Only the service account may publish or subscribe here (broker/authorize.ts); topics
 * starting with '$' are never matched by a wildcard filter [MQTT-4.7.2-1].
 *
 * The body is JSON, validated with zod on arrival: message ids are 64-bit (MessageId),
 * so they travel as decimal strings. A message's points may be spread over several
 * deliveries (one message's points can outgrow a packet); the receiver judges each
 * point once by (message id, seq), so neither a split nor a redelivery counts twice.
 */
export const COMMITTED_TOPIC = '$arena/committed';
const VERSION = 1;

/** Points of one committed message (or a run of them). */
export interface CommittedDelivery {
  readonly messageId: MessageId;
  readonly points: readonly Point[];
}

const nullableText = z.string().nullable();
const family = z.custom<Family>((v) => typeof v === 'string' && v.length > 0, 'not a device family');
const severity = z.custom<Severity>((v) => (SEVERITIES as readonly unknown[]).includes(v), 'not a VKP severity');

const base = {
  seq: z.number().int().min(0),
  deviceId: z.string().min(1),
  profileId: z.string().min(1),
  profileVersion: nullableText.optional(),
  family,
  siteId: nullableText,
  roomId: nullableText,
  trialId: nullableText,
  participantId: nullableText,
  name: z.string().min(1),
  deviceTime: z.number(),
  receivedAt: z.number(),
  clockSkewed: z.boolean(),
};

const WirePoint = z.discriminatedUnion('kind', [
  z.strictObject({
    ...base,
    kind: z.literal('reading'),
    value: z.number(),
    unit: z.string(),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  }),
  z.strictObject({
    ...base,
    kind: z.literal('event'),
    alertCode: nullableText,
    dispenseCode: nullableText,
    severity,
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  }),
]);

const MAX_MESSAGE_ID = (1n << 64n) - 1n;
const WireMessageId = z
  .string()
  .regex(/^\d{1,20}$/, 'a decimal message id')
  .transform((s) => BigInt(s))
  .refine((id) => id <= MAX_MESSAGE_ID, 'more than 64 bits');

const WireDelivery = z.strictObject({ messageId: WireMessageId, points: z.array(WirePoint).min(1) });
// Deliveries are checked one by one, so one bad delivery does not cost the others (a fall among them).
const Envelope = z.strictObject({ v: z.literal(VERSION), deliveries: z.array(z.unknown()) });

const HEAD = `{"v":${VERSION},"deliveries":[`;
const TAIL = ']}';
const ENVELOPE_BYTES = HEAD.length + TAIL.length;

const pointJson = (p: Point): string => {
  // The message id is the delivery's; a bigint has no JSON form anyway.
  const { messageId: _id, ...rest } = p;
  return JSON.stringify(rest);
};

/** One MQTT payload for COMMITTED_TOPIC, and how many points it holds. */
export interface EncodedCommitted {
  readonly body: Buffer;
  readonly points: number;
}

/**
 * Packs deliveries into MQTT payloads of at most maxBytes each, in order. A delivery
 * too large for one payload is split between points; a single point that alone is too
 * large is left out and counted in `oversized` (a device payload is at most
 * MQTT_MAX_PAYLOAD_BYTES, so only a pathological SenML pack gets near).
 */
export function encodeCommitted(deliveries: readonly CommittedDelivery[], maxBytes: number): { payloads: EncodedCommitted[]; oversized: number } {
  const room = maxBytes - ENVELOPE_BYTES;
  const chunks: { text: string; points: number }[] = [];
  let oversized = 0;
  for (const d of deliveries) {
    const head = `{"messageId":"${d.messageId}","points":[`;
    const fixed = Buffer.byteLength(head) + TAIL.length;
    let run: string[] = [];
    let runBytes = fixed;
    const close = (): void => {
      if (run.length > 0) chunks.push({ text: `${head}${run.join(',')}${TAIL}`, points: run.length });
      run = [];
      runBytes = fixed;
    };
    for (const p of d.points) {
      const text = pointJson(p);
      const bytes = Buffer.byteLength(text);
      if (fixed + bytes > room) {
        oversized++;
        continue;
      }
      if (run.length > 0 && runBytes + 1 + bytes > room) close();
      runBytes += (run.length > 0 ? 1 : 0) + bytes;
      run.push(text);
    }
    close();
  }

  const payloads: EncodedCommitted[] = [];
  let batch: string[] = [];
  let batchBytes = ENVELOPE_BYTES;
  let batchPoints = 0;
  const seal = (): void => {
    payloads.push({ body: Buffer.from(`${HEAD}${batch.join(',')}${TAIL}`), points: batchPoints });
    batch = [];
    batchBytes = ENVELOPE_BYTES;
    batchPoints = 0;
  };
  for (const chunk of chunks) {
    const bytes = Buffer.byteLength(chunk.text);
    if (batch.length > 0 && batchBytes + 1 + bytes > maxBytes) seal();
    batchBytes += (batch.length > 0 ? 1 : 0) + bytes;
    batch.push(chunk.text);
    batchPoints += chunk.points;
  }
  if (batch.length > 0) seal();
  return { payloads, oversized };
}

export type DecodedCommitted =
  | { readonly ok: true; readonly deliveries: CommittedDelivery[]; readonly invalid: readonly { readonly index: number; readonly problem: string }[] }
  | { readonly ok: false; readonly problem: string };

/** The deliveries in a payload from COMMITTED_TOPIC; those that do not validate are named in `invalid`. */
export function decodeCommitted(body: Buffer): DecodedCommitted {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch (e) {
    return { ok: false, problem: `not JSON: ${(e as Error).message}` };
  }
  const envelope = Envelope.safeParse(json);
  if (!envelope.success) return { ok: false, problem: issues(envelope.error) };
  const deliveries: CommittedDelivery[] = [];
  const invalid: { index: number; problem: string }[] = [];
  envelope.data.deliveries.forEach((raw, index) => {
    const d = WireDelivery.safeParse(raw);
    if (!d.success) {
      invalid.push({ index, problem: issues(d.error) });
      return;
    }
    const { messageId } = d.data;
    deliveries.push({ messageId, points: d.data.points.map((p): Point => ({ ...p, messageId })) });
  });
  return { ok: true, deliveries, invalid };
}

/**
 * A payload from COMMITTED_TOPIC without the points of `participants` (an erasure: the
 * broker rewrites what it still queues, broker/erasure.ts). Undefined when no point
 * names any of them, or the payload is not an envelope this version reads: it is then
 * left as it is. Otherwise the other points stay as ingest wrote them (its
 * JSON.stringify text parses and prints back unchanged), in order, and `points` says
 * how many remain (0: nothing is left to deliver).
 */
export function withoutParticipants(body: Buffer, participants: ReadonlySet<string>): { body: Buffer; points: number } | undefined {
  let envelope: { v?: unknown; deliveries?: unknown } | null;
  try {
    envelope = JSON.parse(body.toString('utf8')) as typeof envelope;
  } catch {
    return undefined;
  }
  if (envelope?.v !== VERSION || !Array.isArray(envelope.deliveries)) return undefined;
  const named = (p: { participantId?: unknown } | null): boolean => typeof p?.participantId === 'string' && participants.has(p.participantId);
  let removed = 0;
  let points = 0;
  const kept: unknown[] = [];
  for (const d of envelope.deliveries as ({ points?: ({ participantId?: unknown } | null)[] } | null)[]) {
    if (!Array.isArray(d?.points)) {
      kept.push(d);
      continue;
    }
    const others = d.points.filter((p) => !named(p));
    removed += d.points.length - others.length;
    points += others.length;
    if (others.length > 0) kept.push(others.length === d.points.length ? d : { ...d, points: others });
  }
  if (removed === 0) return undefined;
  return { body: Buffer.from(`${HEAD}${kept.map((d) => JSON.stringify(d)).join(',')}${TAIL}`), points };
}

const issues = (e: z.ZodError): string => e.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`).join('; ');
