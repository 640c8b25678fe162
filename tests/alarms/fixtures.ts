import { loadProfiles } from '../../device-profiles/load.js';
import { AlarmSettingsInput, type AlarmSettings } from '../../kernel/alarms.js';
import type { Attribution } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { localClock } from '../../alarms/clock.js';
import { Evaluator } from '../../alarms/evaluate.js';
import { profileAlarmInfo } from '../../alarms/profile-info.js';
import type { RaiseSignal, RuleEnv, Signal } from '../../alarms/rules/types.js';

/**
 * Fixture sequences for the alarm rules, written as the vendors' own payloads and
 * decoded through the shipped YAML profiles, so a test covers profile and rule together.
 */
export const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

/** A local time on the ward (Europe/Oslo, winter time): at('2026-11-23T23:30'). */
export const at = (local: string): number => Date.parse(`${local}:00+01:00`);
export const MIN = 60_000;

let messages = 0n;
export type Who = Partial<Attribution>;
const PLACE: Attribution = { siteId: 'site-a', roomId: 'room-1', trialId: null, participantId: null };

export function decode(profileId: string, deviceId: string, payload: unknown, receivedAt: number, who: Who = {}): Point[] {
  const r = profiles
    .get(profileId)!
    .decode({ messageId: ++messages, deviceId, payload: Buffer.from(JSON.stringify(payload)), receivedAt, attribution: { ...PLACE, ...who } });
  if (!r.ok) throw new Error(`fixture rejected: ${JSON.stringify(r.problem)}`);
  return r.points;
}

/** RoomSense 3D (JSON, epoch ms). */
export const roomSense = (type: string, t: number, who: Who = {}, extra: Record<string, unknown> = {}) =>
  decode('roomsense-3d', 'RS3D-1', { sensor: 'RS3D-1', time: t, event: { type, ...extra } }, t, who);
export const heartbeat = (t: number, who: Who = {}, mains = true) =>
  decode('roomsense-3d', 'RS3D-1', { sensor: 'RS3D-1', time: t, status: { mains, uptime_s: 100 } }, t, who);
/** BedWatch (SenML). */
export const bedWatch = (records: Record<string, unknown>[], t: number, who: Who = {}) =>
  decode(
    'bedwatch-senml',
    'BW-1',
    records.map((r, i) => (i === 0 ? { bn: 'urn:dev:ser:BW-1:', bt: t / 1000, ...r } : r)),
    t,
    who,
  );
/** DoseBox (JSON, local time with offset). */
export const doseBox = (evt: string, t: number, who: Who = {}, extra: Record<string, unknown> = {}) =>
  decode('dosebox', 'DB-1', { id: 'DB-1', ts: new Date(t).toISOString(), evt, ...extra }, t, who);
/** MediMate (SenML). */
export const mediMate = (n: string, vs: string, t: number, who: Who = {}) =>
  decode('medimate-senml', 'MM-1', [{ bn: 'urn:dev:ser:MM-1:', bt: t / 1000, n, vs }], t, who);
/** AquaScale (JSON, ISO 8601 UTC). */
export const aquaScale = (kind: 'weight' | 'intake' | 'output', value: number, unit: string, t: number, who: Who = {}) =>
  decode('aquascale', 'AQ-1', { serial: 'AQ-1', measured_at: new Date(t).toISOString().replace(/\.\d+Z$/, 'Z'), kind, value, unit }, t, who);

export interface Harness {
  readonly evaluator: Evaluator;
  readonly settings: Map<string, AlarmSettings>;
  /** Every signal the points produce, in order. */
  feed(...points: Point[][]): Signal[];
  tick(now: number): Signal[];
}

export function harness(settings: Record<string, Partial<AlarmSettingsInput>> = {}): Harness {
  const stored = new Map(Object.entries(settings).map(([pid, s]) => [pid, AlarmSettingsInput.parse({ siteId: 'site-a', ...s })]));
  const defaults = AlarmSettingsInput.parse({ siteId: 'site-a' });
  const infos = profileAlarmInfo(profiles);
  const env: RuleEnv = {
    profile: (id) => infos.get(id),
    event: (name) => profiles.catalogue.events.get(name),
    settingsOf: (pid) => (pid === null ? defaults : (stored.get(pid) ?? defaults)),
    allSettings: () => stored,
    clock: localClock('Europe/Oslo'),
  };
  const evaluator = new Evaluator(env);
  return {
    evaluator,
    settings: stored,
    feed: (...batches) => batches.flat().flatMap((p) => evaluator.point(p).signals),
    tick: (now) => evaluator.tick(now).signals,
  };
}

export const raised = (signals: Signal[]): RaiseSignal[] => signals.filter((s): s is RaiseSignal => s.type === 'raise');
export const rules = (signals: Signal[]): string[] => raised(signals).map((s) => s.rule);
export const cleared = (signals: Signal[]): string[] => signals.flatMap((s) => (s.type === 'clear' ? [s.key] : []));
