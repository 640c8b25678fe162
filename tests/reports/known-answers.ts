import { readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { loadFluidTargets } from '../../alarms/store.js';
import { loadProfiles } from '../../device-profiles/load.js';
import type { IndicatorReader } from '../../kernel/indicators.js';
import type { Registry } from '../../kernel/registry.js';
import type { SqlClient } from '../../kernel/sql.js';
import { buildReport, type DeviceInfo, type Report, type ReportAudience, type ReportRow } from '../../reports/compute.js';
import { loadIndicators } from '../../reports/definitions.js';
import { DAY, T, TRIAL } from './world.js';

/** The seeded trial's report (tests/reports/world.ts) through a given indicator reader, and its known answers. */
export interface Expected {
  rows: (Omit<ReportRow, 'suppressed'> & { participants: number })[];
  comparisons: {
    indicator: string;
    statistic: string;
    subject: string | null;
    measure: string;
    estimate: number | null;
    low: number | null;
    high: number | null;
  }[];
  histogram: Record<string, Record<string, number[]>>;
}
export const expected = JSON.parse(readFileSync(new URL('./expected.json', import.meta.url), 'utf8')) as Expected;

export const definitions = loadIndicators();
export const NOW = T + 30 * DAY;
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * DAY, maxFutureMs: 60_000 });

/** The seeded registry, and the database holding its alarm tables (the clinicians' targets). */
export interface Seeded {
  readonly reg: Registry;
  readonly alarmSql: SqlClient;
}

export async function seededReport(
  { reg, alarmSql }: Seeded,
  reader: IndicatorReader,
  audience: ReportAudience,
  opts: { minCell?: number; now?: number } = {},
): Promise<Report> {
  const trial = (await reg.getTrial(TRIAL))!;
  const devices = new Map<string, DeviceInfo>();
  for (const d of await reg.listDevices()) {
    const p = profiles.get(d.profileId)!.profile;
    devices.set(d.id, {
      vendorId: d.vendorId,
      profileId: d.profileId,
      model: `${p.vendor} ${p.model}`,
      family: p.family,
      intervalMs: p.expectedIntervalS * 1000,
    });
  }
  const now = opts.now ?? NOW;
  const assignments = await reg.listAssignments({ trialId: TRIAL });
  return buildReport(
    {
      trial,
      registry: definitions,
      audience,
      windows: await reg.consent.windows(TRIAL, audience.role === 'vendor' ? 'vendor.telemetry' : 'research', now),
      assignments,
      devices,
      granularity: 'week',
      now,
      minCellParticipants: opts.minCell ?? 5,
      subjectOf: audience.role === 'vendor' ? null : (pid) => `pseudo-${pid}`,
      alarmSourceId: 'hub-alarms',
      fluidTargets: await loadFluidTargets(alarmSql, [...new Set(assignments.map((a) => a.participantId))]),
    },
    reader,
  );
}

export const find = (r: Report, e: { indicator: string; statistic: string; period: string; bucket: string; subject: string | null }) =>
  r.rows.find((x) => x.indicator === e.indicator && x.statistic === e.statistic && x.period === e.period && x.bucket === e.bucket && x.subject === e.subject);
export const close = (actual: number | null | undefined, want: number | null, label: string) => {
  if (want === null) expect(actual ?? null, label).toBeNull();
  else expect(actual, label).toBeCloseTo(want, 9);
};

/** Every row, comparison and histogram of the precomputed table (tests/reports/expected.json). */
export function expectKnownAnswers(r: Report): void {
  for (const e of expected.rows) {
    const label = `${e.indicator} ${e.statistic} ${e.period} ${e.bucket} ${e.subject ?? ''}`;
    const got = find(r, e);
    expect(got, label).toBeDefined();
    close(got!.value, e.value, `${label} value`);
    close(got!.numerator, e.numerator, `${label} numerator`);
    close(got!.denominator, e.denominator, `${label} denominator`);
    close(got!.low, e.low, `${label} low`);
    close(got!.high, e.high, `${label} high`);
    expect(got!.participants, `${label} participants`).toBe(e.participants);
  }
  for (const e of expected.comparisons) {
    const label = `${e.indicator} ${e.statistic} ${e.measure}`;
    const got = r.comparisons.find((c) => c.indicator === e.indicator && c.statistic === e.statistic && c.subject === e.subject);
    expect(got, label).toBeDefined();
    expect(got!.measure).toBe(e.measure);
    close(got!.estimate, e.estimate, `${label} estimate`);
    close(got!.low, e.low, `${label} low`);
    close(got!.high, e.high, `${label} high`);
  }
  for (const [indicator, periods] of Object.entries(expected.histogram)) {
    for (const [period, counts] of Object.entries(periods)) {
      expect(r.histograms.find((h) => h.indicator === indicator && h.period === period)?.counts, `${indicator} ${period}`).toEqual(counts);
    }
  }
  expect(r.participantsReleased).toBe(6);
  expect(r.definitionsVersion).toBe(definitions.version);
  expect(r.suppressedCells).toBe(0);
}
