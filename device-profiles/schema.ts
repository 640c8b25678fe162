import { z } from 'zod';
import { SafeId } from '../kernel/ids.js';
import { SEVERITIES } from '../kernel/telemetry.js';
import { PATH_PATTERN } from './path.js';

/**
 * The profile language. Structural only: names of measurements, events, families, units
 * and alarm events are checked against the catalogue when a profile is loaded
 * (device-profiles/check.ts), so this schema is the same for every arena and documents
 * itself (docs/profile-reference.md is generated from these descriptions).
 */

const Path = z
  .string()
  .regex(PATH_PATTERN, 'a path such as event.type, samples[*].v or $.fw')
  .describe('A path into the record: `event.type`, `samples[0].v`; `$.fw` reads from the message root, `[*]` is the current record index');

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

const When = z
  .record(Path, z.union([Scalar, z.array(Scalar).min(1)]))
  .describe('Applies only when every listed path holds the given value (or one of the listed values)');

const Absent = z
  .enum(['reject', 'report', 'ignore'])
  .describe('When the mapped field is absent: reject the record, report it (VALUE_MISSING, the record’s other points are stored) or ignore it');

const Reading = z
  .strictObject({
    measurement: z.string().describe('A measurement of the catalogue (GET /v1/catalogue)'),
    when: When.optional(),
    value: Path.describe('The field holding the value; a boolean reads as 1 or 0'),
    unit: z.string().optional().describe('The vendor’s unit when fixed, as UCUM (any valid UCUM unit commensurable with the catalogue’s)'),
    unitPath: Path.optional().describe('Or: the field that names the unit…'),
    units: z.record(z.string(), z.string()).optional().describe('…and what each of its values means in UCUM'),
    scale: z.number().optional().describe('Multiplies the raw value first (e.g. 0.1 for tenths of a degree)'),
    offset: z.number().optional().describe('Then added to it, before the unit conversion'),
    absent: Absent.optional(),
    required: z.boolean().optional().describe('Older spelling: true is absent: reject'),
  })
  .refine((r) => (r.unit !== undefined) !== (r.unitPath !== undefined && r.units !== undefined), {
    message: 'give either unit, or unitPath together with units',
  });

const EventMapping = z.strictObject({
  event: z.string().describe('An event of the catalogue'),
  alert: z.string().optional().describe('VKP alert code; default: the catalogue’s'),
  dispense: z.string().optional().describe('VKP medication-dispense event code; default: the catalogue’s'),
  severity: z
    .union(SEVERITIES.map((s) => z.literal(s)) as [z.ZodLiteral<0>, ...z.ZodLiteral<number>[]])
    .optional()
    .describe('VKP severity 0/10/20/30/40; default: the catalogue’s'),
});

const Event = z.strictObject({
  when: When.optional(),
  from: Path.describe('The field whose value picks the event from `map`'),
  map: z
    .record(z.string(), EventMapping.nullable())
    .refine((m) => Object.keys(m).length > 0, { message: 'map needs at least one entry' })
    .describe('Field value → event; `null` marks a value that is no event (its record carries readings only)'),
  attributes: z.record(z.string(), Path).default({}).describe('Fields carried on the event, under the given names'),
  absent: Absent.optional(),
});

const TimeFormat = z
  .enum(['epoch_s', 'epoch_ms', 'epoch_us', 'iso8601', 'iso8601_local', 'relative_s', 'relative_ms'])
  .describe('epoch_s/ms/µs; iso8601 with Z or ±hh:mm; iso8601_local without offset, in `zone`; relative_s/ms added to `base`');

const BaseTime = z.strictObject({ path: Path, format: z.enum(['epoch_s', 'epoch_ms', 'epoch_us', 'iso8601', 'iso8601_local']) });

const Time = z
  .strictObject({
    path: Path,
    format: TimeFormat,
    zone: z.string().optional().describe('IANA time zone of iso8601_local times, e.g. Europe/Oslo'),
    base: BaseTime.optional().describe('For relative formats: the time they count from, usually a message field ($.t0)'),
  })
  .refine((t) => (t.format === 'iso8601_local' || t.base?.format === 'iso8601_local') === (t.zone !== undefined), {
    message: 'zone is required with iso8601_local, and only there',
    path: ['zone'],
  })
  .refine((t) => t.format.startsWith('relative') === (t.base !== undefined), {
    message: 'base is required with relative_s/relative_ms, and only there',
    path: ['base'],
  })
  .describe('Where each record’s device time is and how it is written');

const Records = z
  .strictObject({
    path: Path.describe('The array (or nested arrays) holding the records: `samples[*]`, `groups[*].samples[*]`'),
    schema: z.record(z.string(), z.unknown()).optional().describe('JSON Schema of one record; a record that fails it is rejected alone'),
  })
  .refine((r) => r.path.endsWith('[*]'), { message: 'must end in [*]', path: ['path'] })
  .describe('One message carries many records; each becomes its own points or rejection. Paths in mappings are relative to the record');

const ShapeFields = {
  deviceIdPath: Path.optional().describe('JSON: the message field that must equal the device id'),
  time: Time,
  payload: z.record(z.string(), z.unknown()).describe('JSON Schema of the message (or of one resolved SenML record)'),
  records: Records.optional(),
  readings: z.array(Reading).default([]).describe('Fields that become readings of catalogue measurements'),
  events: z.array(Event).default([]).describe('Fields whose values become catalogue events'),
  ignore: z.array(Path).default([]).describe('Fields the profile deliberately does not use: neither kept nor reported'),
};

const Shape = z
  .strictObject({
    name: SafeId.describe('Names the shape in rejections'),
    topic: z.string().optional().describe('Only messages on this topic (one of `topics`)'),
    when: When.optional().describe('Only messages whose fields hold these values (a discriminator)'),
    ...ShapeFields,
  })
  .refine((s) => s.readings.length + s.events.length > 0, { message: 'a shape must map at least one reading or event' });

/**
 * Which of this device's events open alarms, and when its health is an alarm. Optional:
 * without it every event the catalogue gives an alarm (an alert code, `alarm` not false) opens one.
 */
const Alarms = z.strictObject({
  events: z.array(z.string()).optional().describe('Events that open alarms; each must open an alarm in the catalogue (an alert code, `alarm` not false)'),
  offlineAfter: z.number().int().min(1).max(1000).default(3).describe('Silence for expectedIntervalS × offlineAfter marks the device offline (VKP 1.20)'),
  batteryLowPct: z.number().min(0).max(100).default(20).describe('A battery_level at or below this raises VKP 1.17 Batteri lavt'),
});

/** This model's own quota, instead of the broker's defaults (broker/config.ts). */
const Quota = z.strictObject({
  messagesPerSecond: z.number().positive().optional().describe('Sustained messages a second'),
  messageBurst: z.number().int().min(1).optional().describe('Messages allowed at once above the rate'),
  bytesPerSecond: z.number().int().positive().optional().describe('Sustained payload bytes a second'),
  byteBurst: z.number().int().positive().optional().describe('Bytes allowed at once above the rate'),
});

export const ProfileSchema = z
  .strictObject({
    id: SafeId.describe('The profile’s id; devices are registered with it'),
    version: z
      .string()
      .regex(/^\d+\.\d+\.\d+$/, 'semantic version, e.g. 1.0.0')
      .describe('Semantic version of this profile; datasets’ manifests name it'),
    family: z.string().describe('A device family of the catalogue'),
    vendor: z.string().min(1).describe('The vendor’s name'),
    model: z.string().min(1).describe('The device model'),
    description: z.string().default('').describe('Free text for vendors and arena staff'),
    topics: z
      .array(
        z
          .string()
          .regex(/^[^#+\0]+$/, 'no wildcards or NUL')
          .refine((t) => t.includes('{deviceId}'), 'must contain {deviceId}'),
      )
      .min(1)
      .describe('Topics the device publishes on; {deviceId} is replaced by the device id'),
    commandTopic: z.string().default('devices/{deviceId}/commands').describe('The one topic the device may subscribe to'),
    format: z.enum(['json', 'senml']).describe('json: vendor JSON; senml: SenML JSON (RFC 8428), resolved into records'),
    expectedIntervalS: z.number().int().positive().describe('Expected reporting interval; silence for several intervals marks the device offline'),
    senmlBaseName: z.string().optional().describe('SenML: the base name every pack must carry, with {deviceId}'),
    unmapped: z
      .enum(['report', 'keep'])
      .default('report')
      .describe('Fields no mapping reads: report them (FIELD_UNMAPPED, points still stored) or keep them on the points’ attributes'),
    deviceIdPath: ShapeFields.deviceIdPath,
    time: Time.optional(),
    payload: ShapeFields.payload.optional(),
    records: Records.optional(),
    readings: z.array(Reading).optional().describe('Fields that become readings of catalogue measurements'),
    events: z.array(Event).optional().describe('Fields whose values become catalogue events'),
    ignore: z.array(Path).optional().describe('Fields the profile deliberately does not use: neither kept nor reported'),
    shapes: z
      .array(Shape)
      .min(1)
      .optional()
      .describe('Several message shapes, chosen by topic and/or `when`, tried in order; instead of the one-shape fields above'),
    alarms: Alarms.optional().describe('Which events open alarms, and when the device counts as offline or its battery as low'),
    quota: Quota.optional().describe('This model’s own message and byte rates, instead of the broker’s defaults'),
  })
  .superRefine((p, ctx) => {
    const single = ['time', 'payload', 'records', 'readings', 'events', 'ignore', 'deviceIdPath'].filter((k) => p[k as keyof typeof p] !== undefined);
    if (p.shapes) {
      for (const k of single) ctx.addIssue({ code: 'custom', path: [k], message: 'goes inside each of shapes[] when shapes is given' });
    } else {
      if (!p.time) ctx.addIssue({ code: 'custom', path: ['time'], message: 'required (or give shapes)' });
      if (!p.payload) ctx.addIssue({ code: 'custom', path: ['payload'], message: 'required (or give shapes)' });
      if ((p.readings?.length ?? 0) + (p.events?.length ?? 0) === 0)
        ctx.addIssue({ code: 'custom', path: [], message: 'a profile must map at least one reading or event' });
    }
    if (p.format === 'senml' && !p.senmlBaseName?.includes('{deviceId}')) {
      ctx.addIssue({ code: 'custom', path: ['senmlBaseName'], message: 'a SenML profile needs senmlBaseName containing {deviceId}' });
    }
    p.shapes?.forEach((s, i) => {
      if (s.topic !== undefined && !p.topics.includes(s.topic))
        ctx.addIssue({ code: 'custom', path: ['shapes', i, 'topic'], message: 'not one of the profile’s topics' });
      if (p.format === 'senml' && s.records)
        ctx.addIssue({ code: 'custom', path: ['shapes', i, 'records'], message: 'SenML packs are records already (RFC 8428)' });
    });
    if (!p.shapes && p.format === 'senml' && p.records)
      ctx.addIssue({ code: 'custom', path: ['records'], message: 'SenML packs are records already (RFC 8428)' });
  });

export type Profile = z.infer<typeof ProfileSchema>;
export type Shape = z.infer<typeof Shape>;
export type ReadingRule = z.infer<typeof Reading>;
export type EventRule = z.infer<typeof Event>;
export type TimeRule = z.infer<typeof Time>;
export type AlarmRules = z.infer<typeof Alarms>;
export type ProfileQuota = z.infer<typeof Quota>;

/** A profile's message shapes: its shapes[], or the one shape its top-level fields describe. */
export function shapesOf(p: Profile): Shape[] {
  if (p.shapes) return p.shapes;
  return [
    {
      name: 'message',
      time: p.time!,
      payload: p.payload!,
      readings: p.readings ?? [],
      events: p.events ?? [],
      ignore: p.ignore ?? [],
      ...(p.deviceIdPath !== undefined ? { deviceIdPath: p.deviceIdPath } : {}),
      ...(p.records !== undefined ? { records: p.records } : {}),
    },
  ];
}
