import { z } from 'zod';
import { SafeId } from '../kernel/ids.js';
import { FAMILIES, SEVERITIES } from '../kernel/telemetry.js';
import { MEASUREMENTS, EVENTS } from '../kernel/measurements.js';
import { isKnownUnit } from '../kernel/units.js';
import { VKP_ALERT, VKP_DISPENSE } from '../kernel/vkp.js';
import { ALARM_EVENTS } from '../kernel/alarms.js';

/** A dot path into a payload record: `event.type`, `readings.0.value`. */
const Path = z.string().regex(/^[A-Za-z_$][\w$-]*(\.[\w$-]+)*$/, 'a dot path such as event.type');

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

/** All listed paths must hold the given value (or one of the listed values). */
const When = z.record(Path, z.union([Scalar, z.array(Scalar).min(1)]));

const Ucum = z.string().refine(isKnownUnit, { message: 'not a UCUM unit the hub converts (kernel/units.ts)' });

const Reading = z
  .strictObject({
    measurement: z.string().refine((m) => m in MEASUREMENTS, { message: 'not in the measurement catalogue (kernel/measurements.ts)' }),
    when: When.optional(),
    value: Path,
    /** The vendor's unit when fixed, as UCUM. */
    unit: Ucum.optional(),
    /** Or: the payload field that names the unit, and what each of its values means in UCUM. */
    unitPath: Path.optional(),
    units: z.record(z.string(), Ucum).optional(),
    /** A missing value skips the reading unless it is required. */
    required: z.boolean().default(false),
  })
  .refine((r) => (r.unit !== undefined) !== (r.unitPath !== undefined && r.units !== undefined), {
    message: 'give either unit, or unitPath together with units',
  });

const EventMapping = z.strictObject({
  event: z.string().refine((e) => e in EVENTS, { message: 'not in the event catalogue (kernel/measurements.ts)' }),
  alert: z.string().refine((c) => VKP_ALERT.display.has(c), { message: 'not a VKP alert code (vkp-alert-code-v090)' }).optional(),
  dispense: z
    .string()
    .refine((c) => VKP_DISPENSE.display.has(c), { message: 'not a VKP medication-dispense event code' })
    .optional(),
  severity: z.union(SEVERITIES.map((s) => z.literal(s)) as [z.ZodLiteral<0>, ...z.ZodLiteral<number>[]]),
});

const Event = z.strictObject({
  when: When.optional(),
  /** The payload field whose value picks the event from `map`. */
  from: Path,
  /** `null` marks a value that carries readings only and is no event. */
  map: z.record(z.string(), EventMapping.nullable()).refine((m) => Object.keys(m).length > 0, { message: 'map needs at least one entry' }),
  /** Extra payload fields carried on the event, under the given names. */
  attributes: z.record(z.string(), Path).default({}),
});

/**
 * Which of this device's events open alarms, and when its health is an alarm. Optional:
 * without it the hub judges every event it has a rule for (kernel/alarms.ts ALARM_EVENTS).
 */
const Alarms = z.strictObject({
  events: z.array(z.string().refine((e) => e in ALARM_EVENTS, { message: 'not an event the hub has an alarm rule for (kernel/alarms.ts)' })).optional(),
  /** Silence for expectedIntervalS × offlineAfter marks the device offline (VKP 1.20 Ingen kontakt). */
  offlineAfter: z.number().int().min(1).max(1000).default(3),
  /** A battery_level reading at or below this raises VKP 1.17 Batteri lavt. */
  batteryLowPct: z.number().min(0).max(100).default(20),
});

const Time = z.strictObject({
  path: Path,
  format: z.enum(['epoch_ms', 'epoch_s', 'iso8601']),
});

/**
 * This model's own quota, instead of the broker's defaults (MQTT_DEVICE_RATE and
 * friends, broker/config.ts): a device that legitimately sends more, or a model to keep
 * tighter. Each value left out is the default.
 */
const Quota = z.strictObject({
  messagesPerSecond: z.number().positive().optional(),
  messageBurst: z.number().int().min(1).optional(),
  bytesPerSecond: z.number().int().positive().optional(),
  byteBurst: z.number().int().positive().optional(),
});

export const ProfileSchema = z
  .strictObject({
    id: SafeId,
    version: z.string().regex(/^\d+\.\d+\.\d+$/, 'semantic version, e.g. 1.0.0'),
    family: z.enum(FAMILIES as [string, ...string[]]),
    vendor: z.string().min(1),
    model: z.string().min(1),
    description: z.string().default(''),
    /** Topics the device publishes on; `{deviceId}` is replaced by the device's id. */
    topics: z
      .array(z.string().regex(/^[^#+\0]+$/, 'no wildcards or NUL').refine((t) => t.includes('{deviceId}'), 'must contain {deviceId}'))
      .min(1),
    commandTopic: z.string().default('devices/{deviceId}/commands'),
    format: z.enum(['json', 'senml']),
    /** Expected reporting interval; silence for several intervals marks the device offline. */
    expectedIntervalS: z.number().int().positive(),
    /** JSON: the payload field that must equal the device id. */
    deviceIdPath: Path.optional(),
    /** SenML (RFC 8428): the base name every pack must carry, with `{deviceId}`. */
    senmlBaseName: z.string().optional(),
    time: Time,
    /** JSON Schema of one record (the JSON payload, or one resolved SenML record). */
    payload: z.record(z.string(), z.unknown()),
    readings: z.array(Reading).default([]),
    events: z.array(Event).default([]),
    alarms: Alarms.optional(),
    quota: Quota.optional(),
  })
  .refine((p) => p.readings.length + p.events.length > 0, { message: 'a profile must map at least one reading or event' })
  .refine((p) => p.format !== 'senml' || p.senmlBaseName?.includes('{deviceId}'), {
    message: 'a SenML profile needs senmlBaseName containing {deviceId}',
    path: ['senmlBaseName'],
  })
  .refine((p) => (p.alarms?.events ?? []).every((e) => p.events.some((rule) => Object.values(rule.map).some((m) => m?.event === e))), {
    message: 'lists an event that no entry of events[].map produces',
    path: ['alarms', 'events'],
  });

export type Profile = z.infer<typeof ProfileSchema>;
export type ReadingRule = z.infer<typeof Reading>;
export type EventRule = z.infer<typeof Event>;
export type AlarmRules = z.infer<typeof Alarms>;
export type ProfileQuota = z.infer<typeof Quota>;
