import type { FluidTargetChange } from '../kernel/alarms.js';
import type { DaySlice, DeviceSlice, FluidDaySlice, ParticipantSlice } from '../kernel/indicators.js';
import type { ReleaseWindow } from '../kernel/ports.js';
import type { Assignment, Period, Trial } from '../kernel/trials.js';

/**
 * The time a report counts, cut into cells (period × week or month): a participant's
 * assigned time inside their release windows, so a count never reaches beyond what the
 * consent rule releases to the audience. All intervals are half-open [from, to), UTC.
 */

export type Granularity = 'week' | 'month';
export interface NamedPeriod extends Period {
  readonly name: 'baseline' | 'intervention' | 'trial';
}

const DAY_MS = 86_400_000;

/**
 * Baseline and intervention side by side; the intervention runs from its recorded start
 * (else the end of the baseline) to the end of the trial. A trial with neither is one period.
 */
export function periodsOf(trial: Pick<Trial, 'period' | 'baseline' | 'interventionFrom'>): NamedPeriod[] {
  const out: NamedPeriod[] = [];
  if (trial.baseline) out.push({ name: 'baseline', ...trial.baseline });
  const start = trial.interventionFrom ?? trial.baseline?.to ?? null;
  if (start !== null && start < trial.period.to) out.push({ name: 'intervention', from: start, to: trial.period.to });
  return out.length ? out : [{ name: 'trial', ...trial.period }];
}

/** The start of the ISO week (Monday 00:00 UTC) or calendar month holding `t`. */
export function bucketStart(t: number, g: Granularity): number {
  const d = new Date(t);
  if (g === 'month') return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
  const day = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate());
  return day - ((d.getUTCDay() + 6) % 7) * DAY_MS;
}

function nextBucket(start: number, g: Granularity): number {
  if (g === 'week') return start + 7 * DAY_MS;
  const d = new Date(start);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
}

/** [from, to) cut at period and bucket edges; pieces outside every period are dropped. */
export function cut(from: number, to: number, periods: readonly NamedPeriod[], g: Granularity): { period: string; bucket: number; from: number; to: number }[] {
  const out: { period: string; bucket: number; from: number; to: number }[] = [];
  for (const p of periods) {
    let a = Math.max(from, p.from);
    const end = Math.min(to, p.to);
    while (a < end) {
      const bucket = bucketStart(a, g);
      const b = Math.min(end, nextBucket(bucket, g));
      out.push({ period: p.name, bucket, from: a, to: b });
      a = b;
    }
  }
  return out;
}

const intersect = (a: Period, b: Period): Period | null => {
  const from = Math.max(a.from, b.from);
  const to = Math.min(a.to, b.to);
  return from < to ? { from, to } : null;
};

/** Sorted, merged: overlapping assignments of one participant count once. */
export function union(list: readonly Period[]): Period[] {
  const sorted = [...list].sort((x, y) => x.from - y.from);
  const out: { from: number; to: number }[] = [];
  for (const p of sorted) {
    const last = out.at(-1);
    if (last && p.from <= last.to) last.to = Math.max(last.to, p.to);
    else out.push({ from: p.from, to: p.to });
  }
  return out;
}

export interface ObservedTime {
  /** Each device's assigned time inside its participant's windows. */
  readonly byAssignment: readonly { assignment: Assignment; time: Period }[];
  /** Per participant, the union of the above. */
  readonly byParticipant: ReadonlyMap<string, Period[]>;
}

/** Assignments clipped to the trial period, `until` (now) and the participant's release windows. */
export function observedTime(trial: Pick<Trial, 'period'>, assignments: readonly Assignment[], windows: readonly ReleaseWindow[], until: number): ObservedTime {
  const byAssignment: { assignment: Assignment; time: Period }[] = [];
  const bounds = { from: trial.period.from, to: Math.min(trial.period.to, until) };
  for (const a of assignments) {
    const assigned = intersect({ from: a.from, to: a.to ?? Infinity }, bounds);
    if (!assigned) continue;
    for (const w of windows) {
      if (w.participantId !== a.participantId) continue;
      const time = intersect(assigned, w);
      if (time) byAssignment.push({ assignment: a, time });
    }
  }
  const byParticipant = new Map<string, Period[]>();
  for (const { assignment, time } of byAssignment) byParticipant.set(assignment.participantId, [...(byParticipant.get(assignment.participantId) ?? []), time]);
  for (const [p, list] of byParticipant) byParticipant.set(p, union(list));
  return { byAssignment, byParticipant };
}

export function participantSlices(observed: ObservedTime, periods: readonly NamedPeriod[], g: Granularity): ParticipantSlice[] {
  return [...observed.byParticipant].flatMap(([participantId, list]) =>
    list.flatMap((t) => cut(t.from, t.to, periods, g).map((c) => ({ ...c, participantId }))),
  );
}

export function deviceSlices(
  observed: ObservedTime,
  periods: readonly NamedPeriod[],
  g: Granularity,
  intervalMsOf: (deviceId: string) => number | undefined,
): DeviceSlice[] {
  return observed.byAssignment.flatMap(({ assignment: a, time }) => {
    const intervalMs = intervalMsOf(a.deviceId);
    if (intervalMs === undefined) return [];
    return cut(time.from, time.to, periods, g).map((c) => ({ ...c, participantId: a.participantId, deviceId: a.deviceId, intervalMs }));
  });
}

/** Whole UTC days a participant had a device of `family` assigned and released, each in the period holding it whole. */
function wholeDays(
  observed: ObservedTime,
  periods: readonly NamedPeriod[],
  g: Granularity,
  familyOf: (deviceId: string) => string | undefined,
  family: string,
): { participantId: string; period: string; bucket: number; day: number }[] {
  const byParticipant = new Map<string, Period[]>();
  for (const { assignment: a, time } of observed.byAssignment) {
    if (familyOf(a.deviceId) === family) byParticipant.set(a.participantId, [...(byParticipant.get(a.participantId) ?? []), time]);
  }
  const out: { participantId: string; period: string; bucket: number; day: number }[] = [];
  for (const [participantId, list] of byParticipant) {
    for (const t of union(list)) {
      for (let day = Math.ceil(t.from / DAY_MS) * DAY_MS; day + DAY_MS <= t.to; day += DAY_MS) {
        const period = periods.find((p) => p.from <= day && day + DAY_MS <= p.to);
        if (period) out.push({ participantId, period: period.name, bucket: bucketStart(day, g), day });
      }
    }
  }
  return out;
}

export function daySlices(
  observed: ObservedTime,
  periods: readonly NamedPeriod[],
  g: Granularity,
  familyOf: (deviceId: string) => string | undefined,
  spec: { family: string; measurement: string; lateAlertCode: string },
): DaySlice[] {
  return wholeDays(observed, periods, g, familyOf, spec.family).map((d) => ({ ...d, measurement: spec.measurement, lateAlertCode: spec.lateAlertCode }));
}

/**
 * The target that held on a day: the last change before the day's end (so on a day the
 * target changed, the last change that day); undefined before the first.
 */
function targetOnDay(history: readonly FluidTargetChange[], day: number): FluidTargetChange | undefined {
  let held: FluidTargetChange | undefined;
  for (const c of history) if (c.validFrom < day + DAY_MS && (held === undefined || c.validFrom >= held.validFrom)) held = c;
  return held;
}

/** Whole days with a fluid-balance device, each with the target that held on it; days without a target are left out. */
export function fluidDaySlices(
  observed: ObservedTime,
  periods: readonly NamedPeriod[],
  g: Granularity,
  familyOf: (deviceId: string) => string | undefined,
  spec: { id: string; family: string; intake: string; output: string },
  targets: readonly FluidTargetChange[],
): FluidDaySlice[] {
  const history = new Map<string, FluidTargetChange[]>();
  for (const t of targets) history.set(t.participantId, [...(history.get(t.participantId) ?? []), t]);
  return wholeDays(observed, periods, g, familyOf, spec.family).flatMap((d) => {
    const target = targetOnDay(history.get(d.participantId) ?? [], d.day)?.fluid;
    if (!target || (target.maxNetGainMl === null && target.maxNetLossMl === null)) return [];
    const minNetMl = target.maxNetLossMl === null ? null : -target.maxNetLossMl;
    return [{ ...d, key: spec.id, intake: spec.intake, output: spec.output, minNetMl, maxNetMl: target.maxNetGainMl }];
  });
}
