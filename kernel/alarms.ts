import { z } from 'zod';
import { SafeId } from './ids.js';
import type { Family, Point, Severity } from './telemetry.js';

/** The synthetic device and profile the hub's own alarm events are stored under (alarms/dataset-events.ts). */
export const ALARM_SOURCE_ID = 'hub-alarms';

/**
 * Alarms: what the hub raises for clinicians from device data, and their lifecycle
 * raised → acknowledged → resolved | false_alarm. Each carries a VKP alert code
 * (vkp-alert-code-v090) and severity (vkp-severity-level-v090).
 */
export const ALARM_RULES = [
  'fall',
  'left_bed',
  'sat_up',
  'long_stay',
  'inactivity',
  'dose_missed',
  'dispenser_jam',
  'dispenser_empty',
  'refill_soon',
  'lid_open',
  'battery_low',
  'battery_empty',
  'mains_lost',
  'fluid_balance',
  'weight_gain',
  'missing_measurement',
  'device_offline',
  // Any other event the catalogue marks as opening an alarm (an arena's own, for one): raised on every occurrence.
  'event',
] as const;
export type AlarmRule = (typeof ALARM_RULES)[number];

/**
 * Events judged by a rule of their own (settings, time windows, one alarm per device),
 * and that rule. Whether an event opens an alarm at all is the catalogue's to say
 * (EventDef.alarm); an event that does and is not listed here is judged by 'event'.
 */
export const ALARM_EVENTS: Readonly<Record<string, AlarmRule>> = {
  fall: 'fall',
  left_bed: 'left_bed',
  sat_up: 'sat_up',
  long_stay: 'long_stay',
  inactivity: 'inactivity',
  dose_missed: 'dose_missed',
  jam: 'dispenser_jam',
  empty: 'dispenser_empty',
  refill_soon: 'refill_soon',
  lid_open: 'lid_open',
  battery_low: 'battery_low',
  battery_empty: 'battery_empty',
  mains_lost: 'mains_lost',
  // A device's MQTT will ([MQTT-3.1.2-8]) maps to this event: it went away without DISCONNECT.
  no_contact: 'device_offline',
};

export const ALARM_STATES = ['raised', 'acknowledged', 'resolved', 'false_alarm'] as const;
export type AlarmState = (typeof ALARM_STATES)[number];
export const OPEN_STATES: readonly AlarmState[] = ['raised', 'acknowledged'];
export const isOpen = (state: AlarmState): boolean => state === 'raised' || state === 'acknowledged';

/** Who changed an alarm: a token (its id and label), or the hub itself. */
export interface Actor {
  readonly id: string;
  readonly label: string;
  /** The person at a ward board who acted: the name or initials given at the start of the shift on that board. */
  readonly person?: string;
}
export const HUB_ACTOR: Actor = Object.freeze({ id: 'hub', label: 'arena-hub' });

export interface AlarmPlace {
  readonly siteId: string | null;
  readonly roomId: string | null;
  readonly deviceId: string | null;
  readonly trialId: string | null;
  readonly participantId: string | null;
}

export type AlarmDetail = Readonly<Record<string, string | number | boolean>>;

export interface Alarm extends AlarmPlace {
  readonly id: string;
  readonly rule: AlarmRule;
  /**
   * The catalogue event the alarm reports (GET /v1/catalogue): the device's event, or the
   * one the hub's rule decides by itself (alarms/rules/codes.ts). Its labels name the
   * alarm; its alert code and severity are the alarm's unless the profile names others.
   */
  readonly event: string;
  /** One open alarm per key: a repeated trigger updates it instead of opening another. */
  readonly key: string;
  readonly alertCode: string;
  readonly severity: Severity;
  readonly family: Family;
  readonly state: AlarmState;
  readonly raisedAt: number;
  readonly lastTriggeredAt: number;
  readonly triggerCount: number;
  readonly acknowledgedAt: number | null;
  readonly acknowledgedBy: Actor | null;
  readonly ackComment: string | null;
  readonly closedAt: number | null;
  readonly closedBy: Actor | null;
  readonly closeComment: string | null;
  readonly detail: AlarmDetail;
  /** Who is alerted, as the participant's settings say (e.g. for a missed dose). */
  readonly notify: readonly string[];
  /** The latest triggering messages ("messageId:seq"), so a redelivery never opens a second alarm. */
  readonly sources: readonly string[];
  readonly updatedAt: number;
  readonly version: number;
}

/** What the ward board shows about a device's health. */
export interface DeviceHealth {
  readonly deviceId: string;
  readonly profileId: string;
  readonly siteId: string | null;
  readonly roomId: string | null;
  readonly lastSeenAt: number | null;
  readonly offlineSince: number | null;
  readonly battery: number | null;
  readonly mains: boolean | null;
}

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'local time HH:MM');
/** A daily window in the hub's time zone, [from, to); from after to wraps past midnight; equal means all day. */
export const TimeWindow = z.object({ from: HHMM, to: HHMM });
export type TimeWindow = z.infer<typeof TimeWindow>;
const Windows = z.array(TimeWindow).max(8).default([]).describe('Local time windows in which the alarm is raised; empty means always');
const Recipient = z.string().trim().min(1).max(100);

/** Per-participant alarm settings, set by clinicians where care differs. */
export const AlarmSettingsInput = z.object({
  siteId: SafeId.describe('The site that cares for the participant; its clinicians may read and change these settings'),
  roomId: SafeId.nullable().default(null).describe('Room where alarms without a device (missing measurement) are shown'),
  paused: z.boolean().default(false).describe('Service paused (participant away): no alarms are raised for them'),
  bedExit: z
    .object({ leftBed: z.boolean().default(true), satUp: z.boolean().default(false), windows: Windows })
    .prefault({})
    .describe('VKP 4.2 Forlatt sengen and 4.3 Satt seg opp seng'),
  longStay: z
    .object({ enabled: z.boolean().default(true), minDurationS: z.number().int().positive().nullable().default(null), windows: Windows })
    .prefault({})
    .describe('Unexpectedly long stay (VKP 4.23 Inaktivitet bad / 4.7)'),
  dose: z
    .object({
      windowMin: z
        .number()
        .int()
        .min(1)
        .max(1440)
        .nullable()
        .default(null)
        .describe('A dose made available and not taken within this many minutes is missed (VKP 1.3)'),
      notify: z.array(Recipient).max(10).default([]).describe('Who is alerted when a dose is not taken'),
    })
    .prefault({}),
  fluid: z
    .object({
      windowH: z.number().int().min(1).max(72).default(24),
      maxNetGainMl: z.number().positive().nullable().default(null).describe('Intake minus output over the window above this raises an alarm'),
      maxNetLossMl: z.number().positive().nullable().default(null).describe('Output minus intake over the window above this raises an alarm'),
    })
    .prefault({}),
  weight: z
    .object({
      targetKg: z.number().min(1).max(500).nullable().default(null).describe('Target (dry) weight'),
      maxGainKg: z.number().positive().max(100).nullable().default(null).describe('Body weight more than this above the target raises an alarm'),
    })
    .prefault({}),
  daily: z
    .array(
      z.object({
        measurement: z
          .string()
          .regex(/^[a-z][a-z0-9_]*$/)
          .describe('A measurement of the catalogue (GET /v1/catalogue)'),
        by: HHMM,
      }),
    )
    .max(10)
    .default([])
    .describe('Measurements expected every day by a local time (VKP 5.3.2 Måling ikke rapportert)'),
});
export type AlarmSettingsInput = z.input<typeof AlarmSettingsInput>;
export type AlarmSettings = z.output<typeof AlarmSettingsInput>;

export interface ParticipantAlarmSettings extends AlarmSettings {
  readonly participantId: string;
  readonly updatedAt: number;
  readonly updatedBy: Actor;
}

/**
 * The clinician's fluid-balance target: the settings the fluid_balance and weight_gain
 * rules judge by (alarms/rules/fluid.ts). Its history is kept, so a day can be judged
 * against the target that held then (reports/: days within the target).
 */
export type FluidTarget = Pick<AlarmSettings, 'fluid' | 'weight'>;
export interface FluidTargetChange extends FluidTarget {
  readonly participantId: string;
  /** When it was set; it holds until the next change. */
  readonly validFrom: number;
  readonly setBy: Actor;
}

/** What a participant without settings gets. */
export const defaultAlarmSettings = (siteId: string): AlarmSettings => AlarmSettingsInput.parse({ siteId });

export interface AlarmQuery {
  /** Only alarms of these sites; absent means every site. */
  readonly siteIds?: readonly string[];
  readonly states?: readonly AlarmState[];
  readonly limit?: number;
}

/** Reading alarms and acting on them (the ward board, the API). */
export interface AlarmDesk {
  listAlarms(query: AlarmQuery): Promise<Alarm[]>;
  getAlarm(id: string): Promise<Alarm | undefined>;
  /** raised → acknowledged; CONFLICT in any other state. */
  acknowledge(id: string, by: Actor, comment: string | null): Promise<Alarm>;
  /** open → resolved; CONFLICT once closed. */
  resolve(id: string, by: Actor, comment: string | null): Promise<Alarm>;
  /** open → false_alarm; CONFLICT once closed. */
  markFalseAlarm(id: string, by: Actor, comment: string | null): Promise<Alarm>;
}

export interface AlarmSettingsRegistry {
  getSettings(participantId: string): Promise<ParticipantAlarmSettings | undefined>;
  listSettings(siteIds?: readonly string[]): Promise<ParticipantAlarmSettings[]>;
  putSettings(participantId: string, input: AlarmSettingsInput, by: Actor): Promise<ParticipantAlarmSettings>;
  /** Every change of these participants' fluid-balance targets, by participant and time. */
  fluidTargetHistory(participantIds: readonly string[]): Promise<FluidTargetChange[]>;
}

export interface DeviceHealthReader {
  deviceHealth(deviceIds: readonly string[]): DeviceHealth[];
}

/** Erasure of a participant (promise 3) removes their alarms, alarm settings and target history too. */
export interface AlarmEraser {
  eraseParticipant(participantId: string): Promise<number>;
}

export type AlarmService = AlarmDesk & AlarmSettingsRegistry & DeviceHealthReader & AlarmEraser;

/** What the live stream carries, in the order it happened. */
export type LiveMessage =
  | { readonly kind: 'point'; readonly point: Point }
  | { readonly kind: 'alarm'; readonly alarm: Alarm }
  | { readonly kind: 'device'; readonly health: DeviceHealth };

export interface LiveFeed {
  /** Calls the listener synchronously for each message; returns the unsubscribe. */
  subscribe(listener: (message: LiveMessage) => void): () => void;
}
