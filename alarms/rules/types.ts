import type { AlarmDetail, AlarmPlace, AlarmRule, AlarmSettings } from '../../kernel/alarms.js';
import type { EventDef } from '../../kernel/measurements.js';
import type { Family, Severity } from '../../kernel/telemetry.js';
import type { LocalClock } from '../clock.js';
import type { TimeWindow } from './time-window.js';

/** A rule's verdict: open (or update) the alarm with this key. */
export interface RaiseSignal {
  readonly type: 'raise';
  readonly rule: AlarmRule;
  /** The catalogue event the alarm reports (Alarm.event). */
  readonly event: string;
  readonly key: string;
  readonly alertCode: string;
  readonly severity: Severity;
  /** Hub time the condition was seen: the message's receipt, or the tick. */
  readonly at: number;
  readonly place: AlarmPlace;
  readonly family: Family;
  readonly detail: AlarmDetail;
  readonly notify: readonly string[];
  /** "messageId:seq" of the triggering point; null when a timer decided. */
  readonly source: string | null;
  /** At most one alarm per key ever, even once closed (one missing weight per day). */
  readonly once?: boolean;
}

/** The condition is over: resolve the open alarm with this key, if any, as the hub. */
export interface ClearSignal {
  readonly type: 'clear';
  readonly key: string;
  readonly at: number;
  readonly reason: string;
}

export type Signal = RaiseSignal | ClearSignal;

/** What a device profile says about alarms (device-profiles/schema.ts `alarms:`). */
export interface ProfileAlarmInfo {
  readonly family: Family;
  readonly expectedIntervalS: number;
  /** Events of this profile that may open alarms. */
  readonly events: ReadonlySet<string>;
  readonly offlineAfter: number;
  readonly batteryLowPct: number;
}

/** Everything a rule reads besides its input and its state: no I/O, no clock of its own. */
export interface RuleEnv {
  profile(profileId: string): ProfileAlarmInfo | undefined;
  /** The catalogue's event of this name: codes, severities and whether it opens an alarm. */
  event(name: string): EventDef | undefined;
  /** The participant's settings, or the defaults (also for points without a participant). */
  settingsOf(participantId: string | null): AlarmSettings;
  /** Every participant with stored settings, for the timer rules. */
  allSettings(): Iterable<readonly [string, AlarmSettings]>;
  readonly clock: LocalClock;
}

export interface DeviceMemory {
  readonly deviceId: string;
  profileId: string;
  family: Family;
  /** Where and whom the device last measured. */
  place: AlarmPlace;
  lastSeenAt: number | null;
  offlineSince: number | null;
  battery: number | null;
  mains: boolean | null;
}

export interface PendingDose {
  readonly dueAt: number;
  readonly readyAt: number;
  readonly slot: string | null;
  readonly place: AlarmPlace;
  readonly family: Family;
  readonly profileId: string;
}

/** The evaluator's memory; rebuilt on restart from the alarm tables and a replay of telemetry. */
export interface EvalState {
  readonly devices: Map<string, DeviceMemory>;
  /** Doses made available and not yet taken, by subject. */
  readonly doses: Map<string, PendingDose[]>;
  /** Signed fluid volumes (mL, intake positive) by participant, over the longest window a clinician may set. */
  readonly fluid: Map<string, TimeWindow>;
  /** `${participantId}|${measurement}` → time of the latest reading. */
  readonly lastMeasured: Map<string, number>;
  /** Where each participant was last measured, for alarms no device raises. */
  readonly places: Map<string, { place: AlarmPlace; family: Family }>;
}

export const emptyState = (): EvalState => ({ devices: new Map(), doses: new Map(), fluid: new Map(), lastMeasured: new Map(), places: new Map() });

export type { Severity };
