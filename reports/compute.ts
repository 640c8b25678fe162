import type { FluidTargetChange } from '../kernel/alarms.js';
import type { DeviceCount, EventCount, IndicatorCounts, IndicatorReader } from '../kernel/indicators.js';
import type { ReleaseWindow } from '../kernel/ports.js';
import { statusAt, type Assignment, type Trial, type TrialStatus } from '../kernel/trials.js';
import type { EventSelector, IndicatorDefinition, IndicatorRegistry } from './definitions.js';
import { daySlices, deviceSlices, fluidDaySlices, observedTime, participantSlices, periodsOf, type Granularity, type NamedPeriod } from './slices.js';
import { proportionDifference, rateRatio, wilson } from './stats.js';

/**
 * A trial report: the store counts inside released, assigned slices (kernel/indicators.ts),
 * this module turns the counts into one row per indicator × period × week (or month) and
 * subject, compares baseline with intervention, and suppresses small cells.
 */

/** Who reads the report: arena staff (no suppression), the trial's researchers, or one vendor. */
export type ReportAudience = { readonly role: 'admin' } | { readonly role: 'researcher' } | { readonly role: 'vendor'; readonly vendorId: string };

export interface DeviceInfo {
  readonly vendorId: string;
  readonly profileId: string;
  /** "Vendor Model" from the profile. */
  readonly model: string;
  readonly family: string;
  readonly intervalMs: number;
}

export interface ReportInput {
  readonly trial: Trial;
  readonly registry: IndicatorRegistry;
  readonly audience: ReportAudience;
  readonly windows: readonly ReleaseWindow[];
  readonly assignments: readonly Assignment[];
  readonly devices: ReadonlyMap<string, DeviceInfo>;
  readonly granularity: Granularity;
  readonly now: number;
  readonly minCellParticipants: number;
  /** How the audience sees a participant; null: never as a subject of its own. */
  readonly subjectOf: ((participantId: string) => string) | null;
  readonly alarmSourceId: string;
  /** The clinicians' fluid-balance targets of the trial's participants, every change (alarms/store.ts). */
  readonly fluidTargets: readonly FluidTargetChange[];
}

export interface ReportRow {
  readonly indicator: string;
  /** rate, proportion, ratio, p50, p90 */
  readonly statistic: string;
  readonly period: string;
  /** ISO date of the week's Monday or the month's first day; 'total' for the whole period. */
  readonly bucket: string;
  /** What the row is about within the indicator: an alert code, a device model, a participant; null for all. */
  readonly subject: string | null;
  readonly value: number | null;
  readonly numerator: number | null;
  readonly denominator: number | null;
  readonly participants: number;
  readonly low: number | null;
  readonly high: number | null;
  readonly suppressed: boolean;
}

export interface Comparison {
  readonly indicator: string;
  readonly statistic: string;
  readonly subject: string | null;
  readonly baseline: number | null;
  readonly intervention: number | null;
  /** rate_ratio (intervention ÷ baseline) or difference (intervention − baseline). */
  readonly measure: 'rate_ratio' | 'difference';
  readonly estimate: number | null;
  readonly low: number | null;
  readonly high: number | null;
  readonly suppressed: boolean;
}

export interface Histogram {
  readonly indicator: string;
  readonly period: string;
  /** Bin edges in seconds; counts has one more entry, for the rest. */
  readonly bounds: readonly number[];
  readonly counts: readonly number[] | null;
  readonly suppressed: boolean;
}

export interface Report {
  readonly trial: {
    readonly id: string;
    readonly name: string;
    readonly status: TrialStatus;
    readonly period: { from: number; to: number };
    readonly baseline: { from: number; to: number } | null;
    readonly interventionFrom: number | null;
  };
  readonly definitionsVersion: string;
  readonly generatedAt: number;
  readonly audience: ReportAudience['role'];
  readonly granularity: Granularity;
  readonly periods: readonly NamedPeriod[];
  readonly minCellParticipants: number;
  /** Whether small cells were suppressed (every audience but arena staff). */
  readonly suppression: boolean;
  readonly suppressedCells: number;
  readonly participantsReleased: number;
  readonly indicators: readonly IndicatorDefinition[];
  readonly rows: readonly ReportRow[];
  readonly comparisons: readonly Comparison[];
  readonly histograms: readonly Histogram[];
}

/** Response-time histogram: bin i holds [bound i−1, bound i) seconds; the last bin, 1 h and beyond. */
export const HISTOGRAM_BOUNDS = [30, 60, 120, 300, 600, 1800, 3600] as const;

const WEEK_MS = 7 * 86_400_000;
const TOTAL = 'total';
const isoDay = (t: number): string => new Date(t).toISOString().slice(0, 10);
const cellKey = (period: string, bucket: string, subject: string | null): string => `${period}|${bucket}|${subject ?? ''}`;

/** Sums and participant sets per cell, with a 'total' cell per period beside the buckets. */
class Cells<T extends Record<string, number>> {
  readonly #cells = new Map<string, { period: string; bucket: string; subject: string | null; sums: T; people: Set<string> }>();
  constructor(private readonly zero: () => T) {}
  add(period: string, bucket: number, subject: string | null, participantId: string | null, values: Partial<T>): void {
    for (const b of [isoDay(bucket), TOTAL]) {
      const key = cellKey(period, b, subject);
      let cell = this.#cells.get(key);
      if (!cell) this.#cells.set(key, (cell = { period, bucket: b, subject, sums: this.zero(), people: new Set() }));
      for (const [k, v] of Object.entries(values) as [keyof T, number][]) (cell.sums[k] as number) += v;
      if (participantId !== null) cell.people.add(participantId);
    }
  }
  get(period: string, bucket: string, subject: string | null) {
    return this.#cells.get(cellKey(period, bucket, subject));
  }
  all() {
    return [...this.#cells.values()];
  }
}

const matches = (sel: EventSelector, e: EventCount): boolean =>
  (sel.source === 'hub') === e.hub &&
  sel.events.includes(e.name) &&
  (sel.alertCodes === undefined || (e.alertCode !== null && sel.alertCodes.includes(e.alertCode)));

export async function buildReport(input: ReportInput, reader: IndicatorReader): Promise<Report> {
  const { trial, audience, registry, granularity: g } = input;
  const definitions = registry.indicators.filter((d) => audience.role !== 'vendor' || d.delivery);
  // A vendor's report is about its own devices only: its assignments, its devices' events.
  const own = (deviceId: string): boolean => audience.role !== 'vendor' || input.devices.get(deviceId)?.vendorId === audience.vendorId;
  const assignments = input.assignments.filter((a) => own(a.deviceId));
  const periods = periodsOf(trial);
  const observed = observedTime(trial, assignments, input.windows, input.now);
  const people = participantSlices(observed, periods, g);
  const devices = deviceSlices(observed, periods, g, (id) => input.devices.get(id)?.intervalMs);
  const familyOf = (id: string) => input.devices.get(id)?.family;
  const days = definitions.flatMap((d) => (d.kind === 'daily' ? daySlices(observed, periods, g, familyOf, d) : []));
  const fluidDays = definitions.flatMap((d) => (d.kind === 'fluid-target' ? fluidDaySlices(observed, periods, g, familyOf, d, input.fluidTargets) : []));
  const durations = definitions.flatMap((d) => (d.kind === 'duration' ? [{ key: d.id, events: d.counts.events }] : []));
  const counts = await reader.indicatorCounts({
    trialId: trial.id,
    alarmSourceId: input.alarmSourceId,
    participants: people,
    devices,
    days,
    fluidDays,
    durations,
    histogramBounds: HISTOGRAM_BOUNDS,
  });
  // A hub alarm raised by no device (a missing daily measurement) belongs to no vendor.
  const events = audience.role === 'vendor' ? counts.events.filter((e) => e.deviceId !== null && own(e.deviceId)) : counts.events;

  const exposure = new Cells(() => ({ weeks: 0 }));
  for (const s of people) exposure.add(s.period, s.bucket, null, s.participantId, { weeks: (s.to - s.from) / WEEK_MS });

  const suppress = audience.role !== 'admin';
  const small = (participants: number): boolean => suppress && participants < input.minCellParticipants;
  const rows: ReportRow[] = [];
  const comparisons: Comparison[] = [];
  const row = (r: Omit<ReportRow, 'suppressed'>): ReportRow => {
    const hidden = small(r.participants);
    const out = hidden ? { ...r, value: null, numerator: null, denominator: null, low: null, high: null, suppressed: true } : { ...r, suppressed: false };
    rows.push(out);
    return out;
  };
  const totals = (indicator: string, statistic: string, subject: string | null) =>
    ['baseline', 'intervention'].map((p) =>
      rows.find((r) => r.indicator === indicator && r.statistic === statistic && r.period === p && r.bucket === TOTAL && r.subject === subject),
    );
  const compare = (
    indicator: string,
    statistic: string,
    subject: string | null,
    measure: Comparison['measure'],
    ci: (b: ReportRow, i: ReportRow) => { estimate: number; ci: { low: number; high: number } | null } | null,
  ): void => {
    const [b, i] = totals(indicator, statistic, subject);
    if (!b || !i) return;
    const hidden = b.suppressed || i.suppressed;
    const c = hidden || b.value === null || i.value === null ? null : ci(b, i);
    comparisons.push({
      indicator,
      statistic,
      subject,
      baseline: hidden ? null : b.value,
      intervention: hidden ? null : i.value,
      measure,
      estimate: c?.estimate ?? null,
      low: c?.ci?.low ?? null,
      high: c?.ci?.high ?? null,
      suppressed: hidden,
    });
  };

  const eventCells = (sel: EventSelector, by: 'code' | undefined) => {
    const cells = new Cells(() => ({ n: 0 }));
    for (const e of events) if (matches(sel, e)) cells.add(e.period, e.bucket, by === 'code' ? (e.alertCode ?? '') : null, e.participantId, { n: e.count });
    return cells;
  };
  const subjectsOf = (cells: Cells<{ n: number }>, by: 'code' | undefined): (string | null)[] =>
    by === 'code' ? [...new Set(cells.all().map((c) => c.subject))].sort() : [null];

  const rateRows = (id: string, counted: Cells<{ n: number }>, subjects: (string | null)[]): void => {
    for (const subject of subjects) {
      for (const ex of exposure.all()) {
        const n = counted.get(ex.period, ex.bucket, subject)?.sums.n ?? 0;
        row({
          indicator: id,
          statistic: 'rate',
          period: ex.period,
          bucket: ex.bucket,
          subject,
          value: n / ex.sums.weeks,
          numerator: n,
          denominator: ex.sums.weeks,
          participants: ex.people.size,
          low: null,
          high: null,
        });
      }
      compare(id, 'rate', subject, 'rate_ratio', (b, i) => rateRatio(b.numerator!, b.denominator!, i.numerator!, i.denominator!));
    }
  };

  const proportionRows = (
    id: string,
    k: (period: string, bucket: string) => number,
    n: (period: string, bucket: string) => number,
    people: Cells<Record<string, number>>,
  ): void => {
    for (const cell of people.all()) {
      const den = n(cell.period, cell.bucket);
      if (den === 0) continue;
      const num = Math.min(den, k(cell.period, cell.bucket));
      const ci = wilson(num, den);
      row({
        indicator: id,
        statistic: 'proportion',
        period: cell.period,
        bucket: cell.bucket,
        subject: null,
        value: num / den,
        numerator: num,
        denominator: den,
        participants: cell.people.size,
        low: ci?.low ?? null,
        high: ci?.high ?? null,
      });
    }
    compare(id, 'proportion', null, 'difference', (b, i) => proportionDifference(b.numerator!, b.denominator!, i.numerator!, i.denominator!));
  };

  const histograms: Histogram[] = [];

  for (const d of definitions) {
    switch (d.kind) {
      case 'rate': {
        const cells = eventCells(d.counts, d.by);
        rateRows(d.id, cells, subjectsOf(cells, d.by));
        break;
      }
      case 'late-doses': {
        const cells = new Cells(() => ({ n: 0 }));
        for (const l of counts.lateDoses) cells.add(l.period, l.bucket, null, l.participantId, { n: l.count });
        rateRows(d.id, cells, [null]);
        break;
      }
      case 'proportion': {
        const num = eventCells(d.numerator, undefined);
        const den = eventCells(d.denominator, undefined);
        proportionRows(
          d.id,
          (p, b) => num.get(p, b, null)?.sums.n ?? 0,
          (p, b) => den.get(p, b, null)?.sums.n ?? 0,
          exposure,
        );
        break;
      }
      case 'daily': {
        const cells = new Cells(() => ({ days: 0, onTime: 0 }));
        for (const c of counts.days)
          if (c.measurement === d.measurement) cells.add(c.period, c.bucket, null, c.participantId, { days: c.days, onTime: c.onTime });
        proportionRows(
          d.id,
          (p, b) => cells.get(p, b, null)?.sums.onTime ?? 0,
          (p, b) => cells.get(p, b, null)?.sums.days ?? 0,
          cells,
        );
        break;
      }
      case 'fluid-target': {
        const cells = new Cells(() => ({ days: 0, within: 0 }));
        for (const c of counts.fluidDays) if (c.key === d.id) cells.add(c.period, c.bucket, null, c.participantId, { days: c.days, within: c.within });
        proportionRows(
          d.id,
          (p, b) => cells.get(p, b, null)?.sums.within ?? 0,
          (p, b) => cells.get(p, b, null)?.sums.days ?? 0,
          cells,
        );
        break;
      }
      case 'duration':
        durationRows(d, counts, row, compare, histograms, small);
        break;
      case 'completeness':
      case 'uptime':
        deviceRows(d, counts.devices, devices, input, row, compare);
        break;
      case 'rejections':
        rejectionRows(d, counts, input, row, compare);
        break;
      case 'not-computable':
        break;
    }
  }
  // One order whatever order the store returned its groups in: the same request gives the same bytes.
  const indicatorOrder = new Map(definitions.map((d, i) => [d.id, i]));
  const periodOrder = new Map<string, number>(periods.map((p, i) => [p.name, i]));
  const by =
    <T>(...keys: ((x: T) => number | string)[]) =>
    (a: T, b: T): number => {
      for (const k of keys) {
        const x = k(a);
        const y = k(b);
        if (x !== y) return typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
      }
      return 0;
    };
  rows.sort(
    by<ReportRow>(
      (r) => indicatorOrder.get(r.indicator) ?? -1,
      (r) => r.statistic,
      (r) => periodOrder.get(r.period) ?? -1,
      (r) => r.bucket,
      (r) => r.subject ?? '',
    ),
  );
  comparisons.sort(
    by<Comparison>(
      (c) => indicatorOrder.get(c.indicator) ?? -1,
      (c) => c.statistic,
      (c) => c.subject ?? '',
    ),
  );
  histograms.sort(
    by<Histogram>(
      (h) => indicatorOrder.get(h.indicator) ?? -1,
      (h) => periodOrder.get(h.period) ?? -1,
    ),
  );

  return {
    trial: {
      id: trial.id,
      name: trial.name,
      status: statusAt(trial, input.now),
      period: trial.period,
      baseline: trial.baseline,
      interventionFrom: trial.interventionFrom,
    },
    definitionsVersion: registry.version,
    generatedAt: input.now,
    audience: audience.role,
    granularity: g,
    periods,
    minCellParticipants: input.minCellParticipants,
    suppression: suppress,
    suppressedCells: rows.filter((r) => r.suppressed).length,
    participantsReleased: observed.byParticipant.size,
    indicators: definitions,
    rows,
    comparisons,
    histograms,
  };
}

type RowFn = (r: Omit<ReportRow, 'suppressed'>) => ReportRow;
type CompareFn = (
  indicator: string,
  statistic: string,
  subject: string | null,
  measure: Comparison['measure'],
  ci: (b: ReportRow, i: ReportRow) => { estimate: number; ci: { low: number; high: number } | null } | null,
) => void;
const difference = (b: ReportRow, i: ReportRow) => ({ estimate: i.value! - b.value!, ci: null });

function durationRows(
  d: Extract<IndicatorDefinition, { kind: 'duration' }>,
  counts: IndicatorCounts,
  row: RowFn,
  compare: CompareFn,
  histograms: Histogram[],
  small: (n: number) => boolean,
): void {
  const merged = new Map<string, { period: string; bucket: string; n: number; participants: number; p50: number; p90: number }>();
  for (const s of counts.durations) {
    if (s.key !== d.id) continue;
    const bucket = s.bucket === null ? TOTAL : isoDay(s.bucket);
    merged.set(`${s.period}|${bucket}`, { period: s.period, bucket, n: s.n, participants: s.participants, p50: s.p50, p90: s.p90 });
  }
  const periodsSeen = new Set([...merged.values()].map((c) => c.period));
  for (const c of merged.values()) {
    for (const stat of ['p50', 'p90'] as const) {
      row({
        indicator: d.id,
        statistic: stat,
        period: c.period,
        bucket: c.bucket,
        subject: null,
        value: c[stat],
        numerator: c.n,
        denominator: null,
        participants: c.participants,
        low: null,
        high: null,
      });
    }
  }
  for (const stat of ['p50', 'p90']) compare(d.id, stat, null, 'difference', difference);
  for (const period of periodsSeen) {
    const bins = new Array<number>(HISTOGRAM_BOUNDS.length + 1).fill(0);
    for (const h of counts.histogram) if (h.period === period && h.key === d.id) bins[h.bin] = (bins[h.bin] ?? 0) + h.count;
    const total = merged.get(`${period}|${TOTAL}`);
    const hidden = small(total?.participants ?? 0);
    histograms.push({ indicator: d.id, period, bounds: HISTOGRAM_BOUNDS, counts: hidden ? null : bins, suppressed: hidden });
  }
}

/** Completeness and uptime per device model and, where the audience may see one, per participant. */
function deviceRows(
  d: Extract<IndicatorDefinition, { kind: 'completeness' | 'uptime' }>,
  counted: readonly DeviceCount[],
  slices: readonly { deviceId: string; participantId: string; period: string; bucket: number; from: number; to: number; intervalMs: number }[],
  input: ReportInput,
  row: RowFn,
  compare: CompareFn,
): void {
  const cells = new Cells(() => ({ got: 0, expected: 0 }));
  const subjects = (deviceId: string, participantId: string): string[] => {
    const model = input.devices.get(deviceId)?.model ?? deviceId;
    return d.kind === 'completeness' && input.subjectOf ? [model, input.subjectOf(participantId)] : [model];
  };
  for (const s of slices) {
    const expected = d.kind === 'completeness' ? (s.to - s.from) / s.intervalMs : Math.ceil((s.to - s.from) / s.intervalMs);
    for (const subject of subjects(s.deviceId, s.participantId)) cells.add(s.period, s.bucket, subject, s.participantId, { expected });
  }
  for (const c of counted) {
    const got = d.kind === 'completeness' ? c.records : c.intervalsCovered;
    for (const subject of subjects(c.deviceId, c.participantId)) cells.add(c.period, c.bucket, subject, null, { got });
  }
  for (const c of cells.all()) {
    if (c.sums.expected <= 0) continue;
    row({
      indicator: d.id,
      statistic: 'ratio',
      period: c.period,
      bucket: c.bucket,
      subject: c.subject,
      value: c.sums.got / c.sums.expected,
      numerator: c.sums.got,
      denominator: c.sums.expected,
      participants: c.people.size,
      low: null,
      high: null,
    });
  }
  // Baseline against intervention per device model; a participant's own figures stay in the rows.
  const models = new Set([...input.devices.values()].map((x) => x.model));
  for (const subject of new Set(cells.all().map((c) => c.subject)))
    if (subject !== null && models.has(subject)) compare(d.id, 'ratio', subject, 'difference', difference);
}

/** Rejected ÷ received per device model and rejection code. */
function rejectionRows(d: IndicatorDefinition, counts: IndicatorCounts, input: ReportInput, row: RowFn, compare: CompareFn): void {
  const model = (deviceId: string) => input.devices.get(deviceId)?.model ?? deviceId;
  const received = new Cells(() => ({ n: 0 }));
  for (const c of counts.devices) received.add(c.period, c.bucket, model(c.deviceId), c.participantId, { n: c.records });
  const rejected = new Cells(() => ({ n: 0 }));
  for (const r of counts.rejections) {
    received.add(r.period, r.bucket, model(r.deviceId), r.participantId, { n: r.count });
    rejected.add(r.period, r.bucket, `${model(r.deviceId)} · ${r.code}`, r.participantId, { n: r.count });
  }
  for (const c of rejected.all()) {
    const m = c.subject!.slice(0, c.subject!.lastIndexOf(' · '));
    const total = received.get(c.period, c.bucket, m);
    const den = total?.sums.n ?? 0;
    if (den === 0) continue;
    const ci = wilson(c.sums.n, den);
    row({
      indicator: d.id,
      statistic: 'proportion',
      period: c.period,
      bucket: c.bucket,
      subject: c.subject,
      value: c.sums.n / den,
      numerator: c.sums.n,
      denominator: den,
      participants: total?.people.size ?? 0,
      low: ci?.low ?? null,
      high: ci?.high ?? null,
    });
  }
  for (const subject of new Set(rejected.all().map((c) => c.subject))) {
    compare(d.id, 'proportion', subject, 'difference', (b, i) => proportionDifference(b.numerator!, b.denominator!, i.numerator!, i.denominator!));
  }
}
