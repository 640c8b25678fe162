import { z } from 'zod';
import type { Attribution } from '../kernel/ports.js';
import type { HubEvent, MessageId, Point, Reading, RejectionCode } from '../kernel/telemetry.js';
import type { Family } from '../kernel/telemetry.js';
import { MEASUREMENTS } from '../kernel/measurements.js';
import { converter } from '../kernel/units.js';
import type { Profile, ReadingRule } from './schema.js';
import { SenmlPack, resolvePack } from './senml.js';
import { formatPath, getPath } from './path.js';

export interface TimeLimits {
  /** Beyond this difference from the hub clock a point is flagged clockSkewed. */
  readonly skewMs: number;
  /** Beyond these a message is rejected: older than maxPastMs, newer than maxFutureMs. */
  readonly maxPastMs: number;
  readonly maxFutureMs: number;
}

export interface DecodeInput {
  readonly messageId: MessageId;
  readonly deviceId: string;
  readonly payload: Buffer;
  readonly receivedAt: number;
  readonly attribution: Attribution;
}

export interface Problem {
  readonly code: RejectionCode;
  readonly path: string;
  readonly message: string;
}

export type DecodeResult = { readonly ok: true; readonly points: Point[] } | { readonly ok: false; readonly problem: Problem };

export interface Decoder {
  readonly profile: Profile;
  /** Whether `topic` is one of the profile's publish topics for this device. */
  publishesOn(deviceId: string, topic: string): boolean;
  decode(input: DecodeInput): DecodeResult;
}

/** A topic template split at `{deviceId}`, matched without building the topic string. */
function matchesTemplate(parts: readonly string[], deviceId: string, topic: string): boolean {
  let at = 0;
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (!topic.startsWith(part, at)) return false;
    at += part.length;
    if (i === parts.length - 1) break;
    if (!topic.startsWith(deviceId, at)) return false;
    at += deviceId.length;
  }
  return at === topic.length;
}

class Reject extends Error {
  constructor(readonly problem: Problem) {
    super(problem.message);
  }
}
const reject = (code: RejectionCode, path: string, message: string): never => {
  throw new Reject({ code, path, message });
};

type Rec = Record<string, unknown>;

function matches(record: Rec, when: Readonly<Record<string, unknown>> | undefined): boolean {
  if (!when) return true;
  for (const [path, expected] of Object.entries(when)) {
    const actual = getPath(record, path);
    if (Array.isArray(expected) ? !expected.includes(actual) : actual !== expected) return false;
  }
  return true;
}

function toMs(raw: unknown, format: Profile['time']['format'], path: string): number {
  let ms: number;
  if (format === 'iso8601') {
    // An offset is required: a local time without one is ambiguous across DST.
    if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(raw)) {
      return reject('TIME_INVALID', path, 'expected an ISO 8601 time with a Z or ±hh:mm offset');
    }
    ms = Date.parse(raw);
  } else {
    if (typeof raw !== 'number' || !Number.isFinite(raw)) return reject('TIME_INVALID', path, `expected a number (${format})`);
    ms = format === 'epoch_s' ? raw * 1000 : raw;
  }
  if (!Number.isFinite(ms)) return reject('TIME_INVALID', path, 'not a valid time');
  return Math.round(ms);
}

/**
 * Turns a validated profile into a decoder: payload bytes in, normalised points or one
 * problem out. Pure: no I/O, no clock (receivedAt comes in).
 */
export function compileProfile(profile: Profile, limits: TimeLimits): Decoder {
  const recordSchema = z.fromJSONSchema(profile.payload as Parameters<typeof z.fromJSONSchema>[0]);
  const family = profile.family as Family;
  const readingConverters = profile.readings.map((rule) => unitConverters(rule));
  const topicTemplates = profile.topics.map((t) => t.split('{deviceId}'));

  function recordsOf(input: DecodeInput): { records: Rec[]; prefix: (i: number) => string } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input.payload.toString('utf8'));
    } catch (e) {
      return reject('PAYLOAD_NOT_JSON', '', `payload is not JSON: ${withoutQuote((e as Error).message)}`);
    }
    if (profile.format === 'json') return { records: [parsed as Rec], prefix: () => '' };

    const pack = SenmlPack.safeParse(parsed);
    if (!pack.success) {
      const issue = pack.error.issues[0]!;
      return reject('SENML_INVALID', formatPath(issue.path), `not a SenML pack (RFC 8428): ${issue.message}`);
    }
    const base = profile.senmlBaseName!.replace('{deviceId}', input.deviceId);
    const records = resolvePack(pack.data, input.receivedAt / 1000).map((r, i) => {
      if (!r.n.startsWith(base)) reject('DEVICE_MISMATCH', `[${i}].n`, `record name "${r.n}" is not under this device's base name "${base}"`);
      return { ...r, n: r.n.slice(base.length) } as Rec;
    });
    return { records, prefix: (i) => `[${i}]` };
  }

  function decodeRecord(rec: Rec, at: string, input: DecodeInput, points: Point[]): void {
    const checked = recordSchema.safeParse(rec);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      reject('SCHEMA_VIOLATION', join(at, formatPath(issue.path)), issue.message);
    }
    if (profile.deviceIdPath !== undefined && getPath(rec, profile.deviceIdPath) !== input.deviceId) {
      reject('DEVICE_MISMATCH', join(at, profile.deviceIdPath), `must equal the device id the device connected with`);
    }
    const timePath = join(at, profile.time.path);
    const deviceTime = toMs(getPath(rec, profile.time.path), profile.time.format, timePath);
    const drift = deviceTime - input.receivedAt;
    if (-drift > limits.maxPastMs || drift > limits.maxFutureMs) {
      reject('TIME_OUT_OF_RANGE', timePath, `device time ${new Date(deviceTime).toISOString()} is too far from the hub's clock`);
    }
    const { siteId, roomId, trialId, participantId } = input.attribution;
    const { messageId, deviceId, receivedAt } = input;
    const clockSkewed = Math.abs(drift) > limits.skewMs;
    // Points are written out field by field (no spread of a shared base): one hidden class
    // for every point, and no intermediate object per message.

    for (let r = 0; r < profile.readings.length; r++) {
      const rule = profile.readings[r]!;
      if (!matches(rec, rule.when)) continue;
      const raw = getPath(rec, rule.value);
      if (raw === undefined) {
        if (rule.required) reject('SCHEMA_VIOLATION', join(at, rule.value), `${rule.measurement} is required`);
        continue;
      }
      const value = typeof raw === 'boolean' ? (raw ? 1 : 0) : raw;
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        return reject('SCHEMA_VIOLATION', join(at, rule.value), `expected a number for ${rule.measurement}`);
      }
      const vendorUnit = rule.unit ?? String(getPath(rec, rule.unitPath!));
      const convert = readingConverters[r]!.get(vendorUnit);
      if (!convert) {
        return reject('UNIT_UNKNOWN', join(at, rule.unitPath ?? rule.value), `unit "${vendorUnit}" is not one this profile accepts for ${rule.measurement}`);
      }
      const reading: Reading = {
        kind: 'reading',
        messageId,
        seq: points.length,
        deviceId,
        profileId: profile.id,
        family,
        siteId,
        roomId,
        trialId,
        participantId,
        name: rule.measurement,
        value: convert(value),
        unit: MEASUREMENTS[rule.measurement]!.unit,
        deviceTime,
        receivedAt,
        clockSkewed,
      };
      points.push(reading);
    }

    for (const rule of profile.events) {
      if (!matches(rec, rule.when)) continue;
      const key = getPath(rec, rule.from);
      if (key === undefined) continue;
      const mapped = rule.map[String(key)];
      if (mapped === null) continue;
      if (mapped === undefined) {
        reject('EVENT_UNKNOWN', join(at, rule.from), `"${String(key)}" is not an event this profile knows`);
        continue;
      }
      const attributes: Record<string, string | number | boolean> = {};
      for (const [name, path] of Object.entries(rule.attributes)) {
        const v = getPath(rec, path);
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[name] = v;
      }
      const event: HubEvent = {
        kind: 'event',
        messageId,
        seq: points.length,
        deviceId,
        profileId: profile.id,
        family,
        siteId,
        roomId,
        trialId,
        participantId,
        deviceTime,
        receivedAt,
        clockSkewed,
        name: mapped.event,
        alertCode: mapped.alert ?? null,
        dispenseCode: mapped.dispense ?? null,
        severity: mapped.severity as HubEvent['severity'],
        attributes,
      };
      points.push(event);
    }
  }

  return {
    profile,
    publishesOn: (deviceId, topic) => topicTemplates.some((parts) => matchesTemplate(parts, deviceId, topic)),
    decode(input) {
      try {
        const { records, prefix } = recordsOf(input);
        const points: Point[] = [];
        records.forEach((rec, i) => decodeRecord(rec, prefix(i), input, points));
        if (points.length === 0) reject('NO_POINTS', '', `the message matched no reading or event of profile ${profile.id}`);
        return { ok: true, points };
      } catch (e) {
        if (e instanceof Reject) return { ok: false, problem: e.problem };
        throw e;
      }
    },
  };
}

const join = (a: string, b: string): string => (a && b ? `${a}.${b}` : a || b);

/** Vendor unit string → converter into the measurement's catalogue unit. */
export function unitConverters(rule: ReadingRule): Map<string, (v: number) => number> {
  const target = MEASUREMENTS[rule.measurement]!.unit;
  const pairs: [string, string][] = rule.unit !== undefined ? [[rule.unit, rule.unit]] : Object.entries(rule.units ?? {});
  const out = new Map<string, (v: number) => number>();
  for (const [vendor, ucum] of pairs) {
    const c = converter(ucum, target);
    if (!c) throw new Error(`unit ${ucum} cannot be converted to ${target} for ${rule.measurement}`);
    out.set(vendor, c);
  }
  return out;
}

/**
 * V8's JSON.parse errors quote the start of the input (`Unexpected token 'k', "{"kg": k73"...
 * is not valid JSON`). The message is shown to the vendor whatever the participant's
 * consent, unlike the payload itself (api/routes/rejections.ts), so the quote goes.
 */
const withoutQuote = (message: string): string => message.replace(/, ".*" is not valid JSON$/s, ' (not valid JSON)');
