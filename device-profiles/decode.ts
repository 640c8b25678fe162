import { z } from 'zod';
import type { Attribution } from '../kernel/ports.js';
import type { Catalogue, ValueType } from '../kernel/measurements.js';
import type { HubEvent, MessageId, Point, Reading, RejectionCode, Severity } from '../kernel/telemetry.js';
import { converter, type Convert } from '../kernel/units.js';
import { addField, fieldTree, unmappedFields, type FieldTree } from './mapped.js';
import { ANY, concretePath, formatPath, parsePath, readPath, type CompiledPath } from './path.js';
import { shapesOf, type EventRule, type Profile, type ReadingRule, type Shape } from './schema.js';
import { SenmlPack, resolvePack } from './senml.js';
import { TimeError, timeReader, type TimeReader } from './time.js';

export interface TimeLimits {
  /** Beyond this difference from the hub clock a point is flagged clockSkewed. */
  readonly skewMs: number;
  /** Beyond these a record is rejected: older than maxPastMs, newer than maxFutureMs. */
  readonly maxPastMs: number;
  readonly maxFutureMs: number;
}

export interface DecodeInput {
  readonly messageId: MessageId;
  readonly deviceId: string;
  /** The topic it came on; shapes chosen by topic need it. */
  readonly topic?: string;
  readonly payload: Buffer;
  readonly receivedAt: number;
  readonly attribution: Attribution;
}

export interface Problem {
  readonly code: RejectionCode;
  readonly path: string;
  readonly message: string;
}

/**
 * Every record of a message ends up as points or as a problem (promise 2). ok: nothing
 * to report. Otherwise `problems` holds each rejected record, and each reported field of
 * a record whose other points are stored; `problem` is the first of them.
 */
export type DecodeResult =
  | { readonly ok: true; readonly points: Point[]; readonly problems: readonly Problem[] }
  | { readonly ok: false; readonly points: Point[]; readonly problems: readonly Problem[]; readonly problem: Problem };

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

type Scalar = string | number | boolean;
type Attributes = Record<string, Scalar>;
type Condition = readonly [CompiledPath, unknown];

interface CompiledReading {
  readonly measurement: string;
  readonly unit: string;
  readonly when: readonly Condition[];
  readonly value: CompiledPath;
  readonly unitPath: CompiledPath | undefined;
  /** Vendor unit → converter; the key is "" for a fixed unit. */
  readonly converters: ReadonlyMap<string, Convert>;
  readonly scale: number;
  readonly offset: number;
  readonly absent: 'reject' | 'report' | 'ignore';
  readonly range: readonly [number, number] | null;
  readonly type: ValueType;
}

interface CompiledEvent {
  readonly when: readonly Condition[];
  readonly from: CompiledPath;
  readonly map: ReadonlyMap<string, { event: string; alert: string | null; dispense: string | null; severity: Severity } | null>;
  readonly attributes: readonly (readonly [string, CompiledPath])[];
  readonly absent: 'reject' | 'report' | 'ignore';
}

interface CompiledShape {
  readonly name: string;
  readonly topicParts: readonly string[] | undefined;
  readonly when: readonly Condition[];
  readonly schema: z.ZodType;
  readonly records: { readonly path: CompiledPath; readonly schema: z.ZodType | undefined } | undefined;
  readonly deviceId: CompiledPath | undefined;
  readonly time: TimeReader;
  readonly timePath: CompiledPath;
  readonly readings: readonly CompiledReading[];
  readonly events: readonly CompiledEvent[];
  readonly recordFields: FieldTree;
  /** The message's own fields outside its records; the same tree as recordFields for a one-record shape. */
  readonly rootFields: FieldTree;
}

const path = (text: string): CompiledPath => {
  const p = parsePath(text);
  if (!p) throw new Error(`not a path: ${text}`);
  return p;
};
const read = (p: CompiledPath, record: unknown, root: unknown, indices: readonly number[]): unknown =>
  readPath(p.fromRoot ? root : record, p.segments, indices);
const conditions = (when: Readonly<Record<string, unknown>> | undefined): Condition[] => Object.entries(when ?? {}).map(([p, v]) => [path(p), v] as const);
function matches(conds: readonly Condition[], record: unknown, root: unknown, indices: readonly number[]): boolean {
  for (const [p, expected] of conds) {
    const actual = read(p, record, root, indices);
    if (Array.isArray(expected) ? !expected.includes(actual) : actual !== expected) return false;
  }
  return true;
}
const jsonSchema = (s: Record<string, unknown>): z.ZodType => z.fromJSONSchema(s as Parameters<typeof z.fromJSONSchema>[0]);
/**
 * A value as its catalogue type allows, or null when it does not fit: an integer is a
 * whole number (within the rounding a unit conversion leaves, 1e-9), a boolean 1 or 0.
 */
function typed(value: number, type: ValueType): number | null {
  if (type === 'number') return value;
  const whole = Math.round(value);
  if (Math.abs(value - whole) > 1e-9 * Math.max(1, Math.abs(value))) return null;
  return type === 'integer' || whole === 0 || whole === 1 ? whole : null;
}

const absentOf = (r: { absent?: 'reject' | 'report' | 'ignore' | undefined; required?: boolean | undefined }) => r.absent ?? (r.required ? 'reject' : 'report');

function compileReading(rule: ReadingRule, catalogue: Catalogue): CompiledReading {
  const def = catalogue.measurements.get(rule.measurement);
  if (!def) throw new Error(`"${rule.measurement}" is not a measurement of the catalogue`);
  const converters = new Map<string, Convert>();
  const pairs: [string, string][] = rule.unit !== undefined ? [['', rule.unit]] : Object.entries(rule.units ?? {});
  for (const [vendor, ucum] of pairs) {
    const c = converter(ucum, def.unit);
    if (!c.ok) throw new Error(`${c.reason}; ${rule.measurement} is stored in ${def.unit}`);
    converters.set(vendor, c.convert);
  }
  return {
    measurement: rule.measurement,
    unit: def.unit,
    when: conditions(rule.when),
    value: path(rule.value),
    unitPath: rule.unitPath === undefined ? undefined : path(rule.unitPath),
    converters,
    scale: rule.scale ?? 1,
    offset: rule.offset ?? 0,
    absent: absentOf(rule),
    range: def.range,
    type: def.type,
  };
}

function compileEvent(rule: EventRule, catalogue: Catalogue): CompiledEvent {
  const map = new Map<string, { event: string; alert: string | null; dispense: string | null; severity: Severity } | null>();
  for (const [key, m] of Object.entries(rule.map)) {
    if (m === null) {
      map.set(key, null);
      continue;
    }
    const def = catalogue.events.get(m.event);
    if (!def) throw new Error(`"${m.event}" is not an event of the catalogue`);
    // The catalogue's coding is the default; a profile names its own where the device knows better.
    map.set(key, {
      event: m.event,
      alert: m.alert ?? def.alert,
      dispense: m.dispense ?? def.dispense,
      severity: (m.severity as Severity | undefined) ?? def.severity,
    });
  }
  return {
    when: conditions(rule.when),
    from: path(rule.from),
    map,
    attributes: Object.entries(rule.attributes).map(([n, p]) => [n, path(p)] as const),
    absent: absentOf(rule),
  };
}

function compileShape(shape: Shape, profile: Profile, catalogue: Catalogue): CompiledShape {
  const recordFields = fieldTree();
  const rootFields = shape.records ? fieldTree() : recordFields;
  const uses = (p: CompiledPath): void => addField(p.fromRoot ? rootFields : recordFields, p.segments);
  const readings = shape.readings.map((r) => compileReading(r, catalogue));
  const events = shape.events.map((e) => compileEvent(e, catalogue));
  const when = conditions(shape.when);
  for (const [p] of when) addField(rootFields, p.segments);
  const deviceId = shape.deviceIdPath === undefined ? undefined : path(shape.deviceIdPath);
  if (deviceId) addField(rootFields, deviceId.segments);
  const timePath = path(shape.time.path);
  uses(timePath);
  if (shape.time.base) uses(path(shape.time.base.path));
  for (const r of readings) {
    uses(r.value);
    if (r.unitPath) uses(r.unitPath);
    for (const [p] of r.when) uses(p);
  }
  for (const e of events) {
    uses(e.from);
    for (const [, p] of e.attributes) uses(p);
    for (const [p] of e.when) uses(p);
  }
  for (const p of shape.ignore) uses(path(p));
  if (profile.format === 'senml') for (const f of ['n', 't']) addField(recordFields, [f]);
  const records = shape.records && { path: path(shape.records.path), schema: shape.records.schema && jsonSchema(shape.records.schema) };
  if (records) addField(rootFields, records.path.segments);
  return {
    name: shape.name,
    topicParts: shape.topic?.split('{deviceId}'),
    when,
    schema: jsonSchema(shape.payload),
    records,
    deviceId,
    time: timeReader(shape.time),
    timePath,
    readings,
    events,
    recordFields,
    rootFields,
  };
}

interface Rec {
  readonly value: unknown;
  readonly indices: readonly number[];
  readonly path: string;
}

/** The records at `segments` (with `[*]` over every element of each array on the way). */
function expand(value: unknown, segments: readonly (string | number)[], at: number, indices: number[], prefix: string, out: Rec[]): void {
  if (at === segments.length) {
    out.push({ value, indices: [...indices], path: prefix });
    return;
  }
  const s = segments[at]!;
  if (s === ANY) {
    if (!Array.isArray(value)) reject('SCHEMA_VIOLATION', prefix, 'expected an array of records');
    (value as unknown[]).forEach((v, i) => {
      indices.push(i);
      expand(v, segments, at + 1, indices, `${prefix}[${i}]`, out);
      indices.pop();
    });
    return;
  }
  const next = value !== null && typeof value === 'object' ? (value as Record<string | number, unknown>)[s] : undefined;
  if (next === undefined) reject('SCHEMA_VIOLATION', formatPath([s], prefix), 'missing: the profile reads its records here');
  expand(next, segments, at + 1, indices, formatPath([s], prefix), out);
}

const attributeValue = (v: unknown): Scalar => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? v : JSON.stringify(v));

/**
 * Turns a checked profile into a decoder: payload bytes in, normalised points and
 * problems out. Pure: no I/O, no clock (receivedAt comes in). The profile must have
 * passed checkProfile against the same catalogue (device-profiles/load.ts does both).
 */
export function compileProfile(profile: Profile, limits: TimeLimits, catalogue: Catalogue): Decoder {
  const shapes = shapesOf(profile).map((s) => compileShape(s, profile, catalogue));
  const topicTemplates = profile.topics.map((t) => t.split('{deviceId}'));
  const keep = profile.unmapped === 'keep';

  function shapeFor(input: DecodeInput, root: unknown): CompiledShape {
    if (shapes.length === 1 && !shapes[0]!.topicParts && shapes[0]!.when.length === 0) return shapes[0]!;
    for (const s of shapes) {
      if (s.topicParts && (input.topic === undefined || !matchesTemplate(s.topicParts, input.deviceId, input.topic))) continue;
      if (matches(s.when, root, root, [])) return s;
    }
    return reject('SHAPE_UNKNOWN', '', `the message matches none of the shapes of profile ${profile.id} (${shapes.map((s) => s.name).join(', ')})`);
  }

  /** The unmapped fields of `value`: kept (returned as attributes) or reported as problems. */
  function unmapped(value: unknown, tree: FieldTree, prefix: string, problems: Problem[]): Attributes | null {
    let kept: Attributes | null = null;
    unmappedFields(value, tree, prefix, (p, v) => {
      if (keep) (kept ??= {})[p] = attributeValue(v);
      else problems.push({ code: 'FIELD_UNMAPPED', path: p, message: `profile ${profile.id} does not map this field` });
    });
    return kept;
  }

  function decodeRecord(
    shape: CompiledShape,
    rec: Rec,
    root: unknown,
    input: DecodeInput,
    messageAttrs: Attributes | null,
    points: Point[],
    problems: Problem[],
  ): void {
    const { value: record, indices } = rec;
    const at = (p: CompiledPath): string => concretePath(p, rec.path, indices);
    // [RFC 8428 §4.6] a SenML profile's payload schema applies to each resolved record.
    const schema = profile.format === 'senml' ? shape.schema : shape.records?.schema;
    if (schema) {
      const checked = schema.safeParse(record);
      if (!checked.success) reject('SCHEMA_VIOLATION', formatPath(checked.error.issues[0]!.path, rec.path), checked.error.issues[0]!.message);
    }
    let deviceTime: number;
    try {
      deviceTime = shape.time(record, root, indices);
    } catch (e) {
      if (e instanceof TimeError) return reject('TIME_INVALID', at(e.path), e.message);
      throw e;
    }
    const drift = deviceTime - input.receivedAt;
    if (-drift > limits.maxPastMs || drift > limits.maxFutureMs) {
      reject('TIME_OUT_OF_RANGE', at(shape.timePath), `device time ${new Date(deviceTime).toISOString()} is too far from the hub's clock`);
    }
    const own = shape.records ? unmapped(record, shape.recordFields, rec.path, problems) : messageAttrs;
    const kept = own && messageAttrs && own !== messageAttrs ? { ...messageAttrs, ...own } : (own ?? messageAttrs);
    const { siteId, roomId, trialId, participantId } = input.attribution;
    const { messageId, deviceId, receivedAt } = input;
    const clockSkewed = Math.abs(drift) > limits.skewMs;
    // Points are written out field by field (no spread of a shared base): one hidden class
    // for every point, and no intermediate object per message.

    for (const rule of shape.readings) {
      if (!matches(rule.when, record, root, indices)) continue;
      const raw = read(rule.value, record, root, indices);
      if (raw === undefined) {
        if (rule.absent === 'reject') reject('SCHEMA_VIOLATION', at(rule.value), `${rule.measurement} is required`);
        if (rule.absent === 'report') problems.push({ code: 'VALUE_MISSING', path: at(rule.value), message: `${rule.measurement} is mapped here but absent` });
        continue;
      }
      const number = typeof raw === 'boolean' ? (raw ? 1 : 0) : raw;
      if (typeof number !== 'number' || !Number.isFinite(number))
        return reject('SCHEMA_VIOLATION', at(rule.value), `expected a number for ${rule.measurement}`);
      const vendorUnit = rule.unitPath ? String(read(rule.unitPath, record, root, indices)) : '';
      const convert = rule.converters.get(vendorUnit);
      if (!convert) {
        return reject('UNIT_UNKNOWN', at(rule.unitPath ?? rule.value), `unit "${vendorUnit}" is not one this profile accepts for ${rule.measurement}`);
      }
      const converted = convert(number * rule.scale + rule.offset);
      const value = typed(converted, rule.type);
      if (value === null) {
        problems.push({
          code: 'VALUE_INVALID',
          path: at(rule.value),
          message: `${converted} is not ${rule.type === 'integer' ? 'a whole number' : '1 or 0 (true or false)'}: ${rule.measurement} is ${rule.type === 'integer' ? 'an integer' : 'a boolean'} in the catalogue`,
        });
        continue;
      }
      if (rule.range && !(value >= rule.range[0] && value <= rule.range[1])) {
        problems.push({
          code: 'VALUE_OUT_OF_RANGE',
          path: at(rule.value),
          message: `${value} ${rule.unit} is outside the plausible range of ${rule.measurement} [${rule.range[0]}, ${rule.range[1]}]`,
        });
        continue;
      }
      const reading: Reading = {
        kind: 'reading',
        messageId,
        seq: points.length,
        deviceId,
        profileId: profile.id,
        family: profile.family,
        siteId,
        roomId,
        trialId,
        participantId,
        name: rule.measurement,
        value,
        unit: rule.unit,
        deviceTime,
        receivedAt,
        clockSkewed,
        ...(kept ? { attributes: kept } : {}),
      };
      points.push(reading);
    }

    for (const rule of shape.events) {
      if (!matches(rule.when, record, root, indices)) continue;
      const key = read(rule.from, record, root, indices);
      if (key === undefined) {
        if (rule.absent === 'reject') reject('SCHEMA_VIOLATION', at(rule.from), 'the event field is required');
        if (rule.absent === 'report') problems.push({ code: 'VALUE_MISSING', path: at(rule.from), message: 'the event field is mapped here but absent' });
        continue;
      }
      const mapped = rule.map.get(String(key));
      if (mapped === null) continue;
      if (mapped === undefined) return reject('EVENT_UNKNOWN', at(rule.from), `"${String(key)}" is not an event this profile knows`);
      const attributes: Attributes = kept ? { ...kept } : {};
      for (const [name, p] of rule.attributes) {
        const v = read(p, record, root, indices);
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') attributes[name] = v;
      }
      const event: HubEvent = {
        kind: 'event',
        messageId,
        seq: points.length,
        deviceId,
        profileId: profile.id,
        family: profile.family,
        siteId,
        roomId,
        trialId,
        participantId,
        deviceTime,
        receivedAt,
        clockSkewed,
        name: mapped.event,
        alertCode: mapped.alert,
        dispenseCode: mapped.dispense,
        severity: mapped.severity,
        attributes,
      };
      points.push(event);
    }
  }

  function messageRecords(input: DecodeInput, problems: Problem[]): { shape: CompiledShape; root: unknown; records: Rec[]; messageAttrs: Attributes | null } {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input.payload.toString('utf8'));
    } catch (e) {
      return reject('PAYLOAD_NOT_JSON', '', `payload is not JSON: ${withoutQuote((e as Error).message)}`);
    }
    const shape = shapeFor(input, parsed);
    if (profile.format === 'senml') {
      const pack = SenmlPack.safeParse(parsed);
      if (!pack.success) {
        const issue = pack.error.issues[0]!;
        return reject('SENML_INVALID', formatPath(issue.path), `not a SenML pack (RFC 8428): ${issue.message}`);
      }
      const base = profile.senmlBaseName!.replace('{deviceId}', input.deviceId);
      const records = resolvePack(pack.data, input.receivedAt / 1000).map((r, i): Rec => {
        if (!r.n.startsWith(base)) reject('DEVICE_MISMATCH', `[${i}].n`, `record name "${r.n}" is not under this device's base name "${base}"`);
        return { value: { ...r, n: r.n.slice(base.length) }, indices: [i], path: `[${i}]` };
      });
      return { shape, root: parsed, records, messageAttrs: null };
    }
    const checked = shape.schema.safeParse(parsed);
    if (!checked.success) reject('SCHEMA_VIOLATION', formatPath(checked.error.issues[0]!.path), checked.error.issues[0]!.message);
    if (shape.deviceId && readPath(parsed, shape.deviceId.segments) !== input.deviceId) {
      reject('DEVICE_MISMATCH', concretePath(shape.deviceId, '', []), 'must equal the device id the device connected with');
    }
    if (!shape.records)
      return { shape, root: parsed, records: [{ value: parsed, indices: [], path: '' }], messageAttrs: unmapped(parsed, shape.rootFields, '', problems) };
    const records: Rec[] = [];
    expand(parsed, shape.records.path.segments, 0, [], '', records);
    if (records.length === 0) {
      const segments = shape.records.path.segments;
      reject('NO_POINTS', formatPath(segments.slice(0, segments.indexOf(ANY))), 'the message carries no records');
    }
    return { shape, root: parsed, records, messageAttrs: unmapped(parsed, shape.rootFields, '', problems) };
  }

  return {
    profile,
    publishesOn: (deviceId, topic) => topicTemplates.some((parts) => matchesTemplate(parts, deviceId, topic)),
    decode(input) {
      const points: Point[] = [];
      const problems: Problem[] = [];
      try {
        const { shape, root, records, messageAttrs } = messageRecords(input, problems);
        for (const rec of records) {
          const pointsBefore = points.length;
          const problemsBefore = problems.length;
          try {
            decodeRecord(shape, rec, root, input, messageAttrs, points, problems);
            if (points.length === pointsBefore && problems.length === problemsBefore) {
              reject('NO_POINTS', rec.path, `the ${shape.records ? 'record' : 'message'} matched no reading or event of profile ${profile.id}`);
            }
          } catch (e) {
            if (!(e instanceof Reject)) throw e;
            points.length = pointsBefore;
            problems.length = problemsBefore;
            problems.push(e.problem);
          }
        }
      } catch (e) {
        if (!(e instanceof Reject)) throw e;
        points.length = 0;
        problems.length = 0;
        problems.push(e.problem);
      }
      return problems.length === 0 ? { ok: true, points, problems } : { ok: false, points, problems, problem: problems[0]! };
    },
  };
}

/**
 * V8's JSON.parse errors quote the start of the input (`Unexpected token 'k', "{"kg": k73"...
 * is not valid JSON`). The message is shown to the vendor whatever the participant's
 * consent, unlike the payload itself (api/routes/rejections.ts), so the quote goes.
 */
const withoutQuote = (message: string): string => message.replace(/, ".*" is not valid JSON$/s, ' (not valid JSON)');
