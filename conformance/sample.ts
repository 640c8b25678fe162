import type { Decoder, Problem } from '../device-profiles/decode.js';
import type { Point } from '../kernel/telemetry.js';

/** One message to try: what a device would send, on which topic, received when. */
export interface Sample {
  readonly deviceId: string;
  readonly topic: string;
  readonly payload: Buffer;
  readonly receivedAt: number;
}

/** What the hub would store for a sample: its points and the problems that explain every record or field that did not become one. */
export interface Decision {
  readonly points: readonly Point[];
  readonly problems: readonly Problem[];
}

const NO_ATTRIBUTION = { siteId: null, roomId: null, trialId: null, participantId: null } as const;

/**
 * The decision ingest makes on a message (ingest/pipeline.ts decide): the topic must be
 * one of the profile's for this device, then the profile's decoder turns the bytes into
 * points and problems. Nobody is attributed: a tried payload describes no participant.
 */
export function decideSample(decoder: Decoder, s: Sample): Decision {
  if (!decoder.publishesOn(s.deviceId, s.topic)) {
    return { points: [], problems: [{ code: 'TOPIC_NOT_ALLOWED', path: '', message: `topic ${s.topic} is not one of the profile's topics` }] };
  }
  const result = decoder.decode({
    messageId: 0n,
    deviceId: s.deviceId,
    topic: s.topic,
    payload: s.payload,
    receivedAt: s.receivedAt,
    attribution: NO_ATTRIBUTION,
  });
  for (const p of result.points) (p as { profileVersion?: string }).profileVersion = decoder.profile.version;
  return { points: result.points, problems: result.problems };
}

/** The topic a device of this profile publishes on when a sample names none: the profile's first. */
export const defaultTopic = (decoder: Decoder, deviceId: string): string => decoder.profile.topics[0]!.replaceAll('{deviceId}', deviceId);

/** A point as a vendor reads it: the normalised fields, device time as ISO 8601, nothing about who was measured. */
export function pointView(p: Point): Record<string, unknown> {
  const common = {
    kind: p.kind,
    name: p.name,
    deviceTime: new Date(p.deviceTime).toISOString(),
    clockSkewed: p.clockSkewed,
    profileVersion: p.profileVersion ?? null,
  };
  if (p.kind === 'reading') return { ...common, value: p.value, unit: p.unit, ...(p.attributes ? { attributes: p.attributes } : {}) };
  return { ...common, alertCode: p.alertCode, dispenseCode: p.dispenseCode, severity: p.severity, attributes: p.attributes };
}

export type SampleLine =
  | { readonly line: number; readonly ok: true; readonly sample: Sample }
  | { readonly line: number; readonly ok: false; readonly error: string };

/** The keys an envelope line may have; any other key makes the line a payload of its own. */
const ENVELOPE_KEYS = new Set(['payload', 'topic', 'deviceId', 'receivedAt']);

function isEnvelope(v: unknown): v is { payload: unknown; topic?: unknown; deviceId?: unknown; receivedAt?: unknown } {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && 'payload' in v && Object.keys(v).every((k) => ENVELOPE_KEYS.has(k));
}

type Defaults = { readonly deviceId: string; readonly topic: (deviceId: string) => string; readonly receivedAt: number };

function sampleOf(textLine: string, defaults: Defaults): Sample | string {
  let value: unknown;
  try {
    value = JSON.parse(textLine);
  } catch {
    value = undefined;
  }
  if (!isEnvelope(value))
    return { deviceId: defaults.deviceId, topic: defaults.topic(defaults.deviceId), payload: Buffer.from(textLine), receivedAt: defaults.receivedAt };
  const { topic, deviceId = defaults.deviceId, receivedAt, payload } = value;
  if (typeof deviceId !== 'string' || deviceId === '') return 'deviceId must be a non-empty string';
  if (topic !== undefined && typeof topic !== 'string') return 'topic must be a string';
  const at =
    typeof receivedAt === 'number'
      ? receivedAt
      : typeof receivedAt === 'string'
        ? Date.parse(receivedAt)
        : receivedAt === undefined
          ? defaults.receivedAt
          : Number.NaN;
  if (!Number.isFinite(at)) return 'receivedAt must be ISO 8601 or epoch milliseconds';
  return {
    deviceId,
    topic: topic ?? defaults.topic(deviceId),
    payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
    receivedAt: at,
  };
}

/**
 * A samples file, NDJSON: each non-empty line is a payload as the device sends it, or an
 * envelope `{"topic": ..., "payload": ..., "deviceId": ..., "receivedAt": ...}` (payload
 * a JSON value, or a string sent as its bytes; the rest optional, receivedAt ISO 8601 or
 * epoch ms). A line that is not JSON is tried as the payload's bytes, as a device's
 * broken message would be.
 */
export function parseSamples(text: string, defaults: Defaults): SampleLine[] {
  const out: SampleLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const textLine = lines[i]!.replace(/\r$/, '');
    if (textLine.trim() === '') continue;
    const parsed = sampleOf(textLine, defaults);
    out.push(typeof parsed === 'string' ? { line, ok: false, error: parsed } : { line, ok: true, sample: parsed });
  }
  return out;
}
