import type {
  CellKey,
  DayCount,
  DeviceCount,
  DurationSummary,
  EventCount,
  FluidDayCount,
  HistogramBin,
  IndicatorCounts,
  IndicatorQuery,
  IndicatorReader,
  LateDoseCount,
  ParticipantSlice,
  RejectionCell,
} from '../kernel/indicators.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { HubEvent, Point } from '../kernel/telemetry.js';

/**
 * The trial indicators counted from a store's point stream, for a store that cannot count
 * them itself (InfluxDB: InfluxQL groups by tags only, cannot read the JSON attributes
 * that hold response times, and has no as-of join). It counts exactly what the DuckDB
 * SQL counts (stores/duckdb/indicators.ts; a contract test holds both to the same
 * answers): each count is a match of points against the slices the caller cut.
 *
 * Memory is bounded by the trial's events of a few kinds (doses, alarms) and, per device
 * slice, the distinct message ids and covered intervals while its points stream by; the
 * readings themselves are not kept.
 */
export function pointIndicatorReader(store: Pick<TelemetryStore, 'points' | 'rejectionCounts'>): IndicatorReader {
  return { indicatorCounts: (q) => countFromPoints(store, q) };
}

const DAY_MS = 86_400_000;
const DOSE_EVENTS = ['dose_ready', 'dose_taken'];

/** Slices of one participant, by start: the cells a point at `at` falls in (half-open). */
class SliceIndex<S extends { readonly participantId: string; readonly from: number; readonly to: number }> {
  readonly #by = new Map<string, S[]>();
  constructor(slices: readonly S[]) {
    for (const s of slices) {
      const list = this.#by.get(s.participantId) ?? [];
      list.push(s);
      this.#by.set(s.participantId, list);
    }
  }
  at(participantId: string | null, at: number): S[] {
    if (participantId === null) return [];
    return (this.#by.get(participantId) ?? []).filter((s) => at >= s.from && at < s.to);
  }
}

const span = (slices: readonly { from: number; to: number }[]): { from: number; to: number } | undefined =>
  slices.length === 0 ? undefined : { from: Math.min(...slices.map((s) => s.from)), to: Math.max(...slices.map((s) => s.to)) };

/** As DuckDB's json_extract(...)::DOUBLE: a number, or a string that reads as one. */
function seconds(e: Point): number | null {
  const v = e.kind === 'event' ? e.attributes.secondsSinceRaised : undefined;
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** quantile_cont: linear interpolation between the order statistics around (n - 1) q. */
function quantile(sorted: readonly number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/** Counts under a composite key; the key's parts are kept beside the count. */
class Tally<K> {
  readonly #m = new Map<string, { key: K; n: number }>();
  add(key: K, n = 1): void {
    const k = JSON.stringify(key);
    const e = this.#m.get(k);
    if (e) e.n += n;
    else this.#m.set(k, { key, n });
  }
  entries(): { key: K; n: number }[] {
    return [...this.#m.values()];
  }
}

async function countFromPoints(store: Pick<TelemetryStore, 'points' | 'rejectionCounts'>, q: IndicatorQuery): Promise<IndicatorCounts> {
  const people = new SliceIndex(q.participants);
  const range = span(q.participants);
  const events = new Tally<Omit<EventCount, 'count'>>();
  const late = new Tally<Omit<LateDoseCount, 'count'>>();
  const durationNames = new Set(q.durations.flatMap((d) => d.events));
  const durationValues: { slice: ParticipantSlice; name: string; s: number }[] = [];
  const doses = new Map<string, HubEvent[]>();

  if (range) {
    for await (const p of store.points({ trialId: q.trialId, kind: 'event', from: range.from, to: range.to })) {
      if (p.kind !== 'event') continue;
      const hub = p.deviceId === q.alarmSourceId;
      const source = hub
        ? typeof p.attributes.sourceDeviceId === 'string' && p.attributes.sourceDeviceId !== ''
          ? p.attributes.sourceDeviceId
          : null
        : p.deviceId;
      for (const s of people.at(p.participantId, p.deviceTime)) {
        events.add({ period: s.period, bucket: s.bucket, participantId: s.participantId, hub, deviceId: source, name: p.name, alertCode: p.alertCode });
        const sec = hub && durationNames.has(p.name) ? seconds(p) : null;
        if (sec !== null) durationValues.push({ slice: s, name: p.name, s: sec });
      }
    }
  }
  // The dose made available before a taken dose may lie before the first slice: all of the trial's.
  for await (const p of store.points({ trialId: q.trialId, kind: 'event', names: DOSE_EVENTS })) {
    if (p.kind !== 'event') continue;
    const list = doses.get(p.deviceId);
    if (list) list.push(p);
    else doses.set(p.deviceId, [p]);
  }

  // A dose taken later than window_min after the latest dose_ready at or before it on the same device.
  for (const list of doses.values()) {
    list.sort((a, b) => a.deviceTime - b.deviceTime || (a.name === 'dose_ready' ? -1 : 1) - (b.name === 'dose_ready' ? -1 : 1));
    let ready: HubEvent | undefined;
    for (const e of list) {
      if (e.name === 'dose_ready') {
        ready = e;
        continue;
      }
      const windowMin = ready === undefined ? null : Number(ready.attributes.window_min ?? Number.NaN);
      if (ready === undefined || windowMin === null || !Number.isFinite(windowMin)) continue;
      if (e.deviceTime - ready.deviceTime <= windowMin * 60_000) continue;
      for (const s of people.at(e.participantId, e.deviceTime)) late.add({ period: s.period, bucket: s.bucket, participantId: s.participantId });
    }
  }

  const durations: DurationSummary[] = [];
  const histogram = new Tally<Omit<HistogramBin, 'count'>>();
  for (const d of q.durations) {
    const mine = durationValues.filter((v) => d.events.includes(v.name));
    const groups = new Map<string, { period: string; bucket: number | null; values: number[]; people: Set<string> }>();
    for (const v of mine) {
      for (const bucket of [v.slice.bucket, null]) {
        const k = `${v.slice.period}|${bucket}`;
        const g = groups.get(k) ?? { period: v.slice.period, bucket, values: [], people: new Set<string>() };
        g.values.push(v.s);
        g.people.add(v.slice.participantId);
        groups.set(k, g);
      }
      histogram.add({ period: v.slice.period, key: d.key, bin: q.histogramBounds.filter((b) => b <= v.s).length });
    }
    for (const g of groups.values()) {
      const sorted = g.values.sort((a, b) => a - b);
      durations.push({
        period: g.period,
        bucket: g.bucket,
        key: d.key,
        n: sorted.length,
        participants: g.people.size,
        p50: quantile(sorted, 0.5),
        p90: quantile(sorted, 0.9),
      });
    }
  }

  return {
    events: events.entries().map(({ key, n }) => ({ ...key, count: n })),
    lateDoses: late.entries().map(({ key, n }) => ({ ...key, count: n })),
    durations,
    histogram: histogram.entries().map(({ key, n }) => ({ ...key, count: n })),
    days: await countDays(store, q),
    fluidDays: await countFluidDays(store, q),
    devices: await countDevices(store, q),
    rejections: await countRejections(store, q),
  };
}

/** Whole days with a reading of the measurement and no "not reported" alarm for it that day. */
async function countDays(store: Pick<TelemetryStore, 'points'>, q: IndicatorQuery): Promise<DayCount[]> {
  if (q.days.length === 0) return [];
  const from = Math.min(...q.days.map((d) => d.day));
  const to = Math.max(...q.days.map((d) => d.day)) + DAY_MS;
  const participants = new Set(q.days.map((d) => d.participantId));
  const measured = new Set<string>();
  const alarmed = new Set<string>();
  const dayOf = (t: number): number => Math.floor(t / DAY_MS) * DAY_MS;
  const measurements = [...new Set(q.days.map((d) => d.measurement))];
  for await (const p of store.points({ kind: 'reading', names: measurements, from, to })) {
    if (p.participantId !== null && participants.has(p.participantId)) measured.add(`${p.participantId}|${p.name}|${dayOf(p.deviceTime)}`);
  }
  for await (const p of store.points({ deviceIds: [q.alarmSourceId], names: ['alarm_raised'], from, to })) {
    if (p.kind === 'event' && p.participantId !== null) alarmed.add(`${p.participantId}|${p.alertCode}|${dayOf(p.deviceTime)}`);
  }
  const out = new Tally<CellKey & { participantId: string; measurement: string }>();
  const onTime = new Map<string, number>();
  for (const d of q.days) {
    const key = { period: d.period, bucket: d.bucket, participantId: d.participantId, measurement: d.measurement };
    out.add(key);
    // The day slices start at UTC midnight, as the SQL's [day_ms, day_ms + 1 day) does.
    const ok = measured.has(`${d.participantId}|${d.measurement}|${dayOf(d.day)}`) && !alarmed.has(`${d.participantId}|${d.lateAlertCode}|${dayOf(d.day)}`);
    const k = JSON.stringify(key);
    onTime.set(k, (onTime.get(k) ?? 0) + (ok ? 1 : 0));
  }
  return out.entries().map(({ key, n }) => ({ ...key, days: n, onTime: onTime.get(JSON.stringify(key)) ?? 0 }));
}

/**
 * A day's intake and output summed apart; a day counts with a reading of each, and is
 * within when intake − output lies inside its target (bounds included), as the SQL's.
 */
async function countFluidDays(store: Pick<TelemetryStore, 'points'>, q: IndicatorQuery): Promise<FluidDayCount[]> {
  if (q.fluidDays.length === 0) return [];
  const from = Math.min(...q.fluidDays.map((d) => d.day));
  const to = Math.max(...q.fluidDays.map((d) => d.day)) + DAY_MS;
  const participants = new Set(q.fluidDays.map((d) => d.participantId));
  const names = [...new Set(q.fluidDays.flatMap((d) => [d.intake, d.output]))];
  const sums = new Map<string, number>();
  for await (const p of store.points({ kind: 'reading', names, from, to })) {
    if (p.kind !== 'reading' || p.participantId === null || !participants.has(p.participantId)) continue;
    const k = `${p.participantId}|${p.name}|${Math.floor(p.deviceTime / DAY_MS) * DAY_MS}`;
    sums.set(k, (sums.get(k) ?? 0) + p.value);
  }
  const out = new Map<string, { key: string; period: string; bucket: number; participantId: string; days: number; within: number }>();
  for (const d of q.fluidDays) {
    const intake = sums.get(`${d.participantId}|${d.intake}|${d.day}`);
    const output = sums.get(`${d.participantId}|${d.output}|${d.day}`);
    if (intake === undefined || output === undefined) continue;
    const net = intake - output;
    const within = (d.minNetMl === null || net >= d.minNetMl) && (d.maxNetMl === null || net <= d.maxNetMl);
    const k = JSON.stringify([d.key, d.period, d.bucket, d.participantId]);
    const cell = out.get(k) ?? { key: d.key, period: d.period, bucket: d.bucket, participantId: d.participantId, days: 0, within: 0 };
    cell.days += 1;
    cell.within += within ? 1 : 0;
    out.set(k, cell);
  }
  return [...out.values()];
}

/** Records (messages with a point) and covered expected intervals per device slice, attributed or not. */
async function countDevices(store: Pick<TelemetryStore, 'points'>, q: IndicatorQuery): Promise<DeviceCount[]> {
  const out: DeviceCount[] = [];
  const byDevice = new Map<string, (typeof q.devices)[number][]>();
  for (const s of q.devices) {
    const list = byDevice.get(s.deviceId);
    if (list) list.push(s);
    else byDevice.set(s.deviceId, [s]);
  }
  for (const [deviceId, slices] of byDevice) {
    const r = span(slices)!;
    const seen = slices.map(() => ({ records: new Set<string>(), covered: new Set<number>() }));
    for await (const p of store.points({ deviceIds: [deviceId], from: r.from, to: r.to })) {
      slices.forEach((s, i) => {
        if (p.deviceTime < s.from || p.deviceTime >= s.to) return;
        seen[i]!.records.add(String(p.messageId));
        seen[i]!.covered.add(Math.floor((p.deviceTime - s.from) / Math.max(1, Math.round(s.intervalMs))));
      });
    }
    slices.forEach((s, i) =>
      out.push({
        period: s.period,
        bucket: s.bucket,
        deviceId,
        participantId: s.participantId,
        records: seen[i]!.records.size,
        intervalsCovered: seen[i]!.covered.size,
      }),
    );
  }
  return out;
}

/** Rejections carry no device time: they count by receipt time, per device slice. */
async function countRejections(store: Pick<TelemetryStore, 'rejectionCounts'>, q: IndicatorQuery): Promise<RejectionCell[]> {
  const out: RejectionCell[] = [];
  for (const s of q.devices) {
    for (const c of await store.rejectionCounts({ deviceIds: [s.deviceId], from: s.from, to: s.to })) {
      if (c.count > 0) out.push({ period: s.period, bucket: s.bucket, deviceId: s.deviceId, participantId: s.participantId, code: c.code, count: c.count });
    }
  }
  return out;
}
