import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Registry } from '../../kernel/registry.js';
import type { SqlClient } from '../../kernel/sql.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { statusAt } from '../../kernel/trials.js';
import type { Report, ReportAudience } from '../../reports/compute.js';
import { pointIndicatorReader } from '../../reports/point-counts.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { expectKnownAnswers, find, seededReport } from './known-answers.js';
import { DAY, seedFluidTargets, seedRegistry, seedStore, T, TRIAL } from './world.js';

let dir: string;
let reg: Registry & TokenRegistry;
let alarmSql: SqlClient;
let store: TelemetryStore;
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * DAY, maxFutureMs: 60_000 });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reports-'));
  // The alarm tables (the clinicians' targets) live in the registry's database, as in the hub.
  alarmSql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  reg = await openSqlRegistry(alarmSql, { profiles });
  store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  await seedRegistry(reg);
  await seedFluidTargets(alarmSql);
  expect(await seedStore(store)).toBe(351 + 405);
}, 60_000);
afterAll(async () => {
  await store?.close();
  await reg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const report = (audience: ReportAudience, opts: { minCell?: number; now?: number } = {}): Promise<Report> =>
  seededReport({ reg, alarmSql }, { indicatorCounts: (q) => store.indicatorCounts!(q) }, audience, opts);

describe('trial indicators on a seeded trial with known answers', () => {
  it('match the precomputed table, row by row', async () => {
    expectKnownAnswers(await report({ role: 'admin' }));
  });

  it('match it too when counted from the point stream (the reader of stores that cannot count in their engine)', async () => {
    expectKnownAnswers(await seededReport({ reg, alarmSql }, pointIndicatorReader(store), { role: 'admin' }));
  });

  it('come in one order whatever order the store counts in: both readers give the same report, row for row', async () => {
    const sql = await report({ role: 'admin' });
    const stream = await seededReport({ reg, alarmSql }, pointIndicatorReader(store), { role: 'admin' });
    expect(stream.rows).toEqual(sql.rows);
    expect(stream.comparisons).toEqual(sql.comparisons);
    expect(stream.histograms).toEqual(sql.histograms);
  });

  it('compute every indicator of the registry: none is left as not computable', async () => {
    const r = await report({ role: 'admin' });
    expect(r.indicators.filter((d) => d.kind === 'not-computable').map((d) => d.id)).toEqual([]);
    expect(r.rows.filter((x) => x.indicator === 'fluid_days_in_target' && x.bucket === 'total').map((x) => x.denominator)).toEqual([27, 34]);
  });

  it('count nothing a withdrawn consent no longer releases, and nothing before a grant', async () => {
    const [p2] = (await reg.listConsents('P2')).filter((c) => c.scope === 'research');
    await reg.withdrawConsent(p2!.id, T + 29 * DAY);
    await reg.grantConsent({ participantId: 'P7', scope: 'research', grantedAt: T + 21 * DAY, formVersion: 'v1' });
    try {
      const r = await report({ role: 'admin' });
      // P2's 3 baseline falls and 1 intervention fall are gone with P2's time; P7 counts from day 21 only (5 falls in week 4).
      const falls = (period: string, bucket: string) => find(r, { indicator: 'falls', statistic: 'rate', period, bucket, subject: null })!;
      expect([falls('baseline', 'total').numerator, falls('baseline', 'total').denominator]).toEqual([7, 10]);
      expect([falls('intervention', '2025-03-17').numerator, falls('intervention', '2025-03-24').numerator]).toEqual([3, 1 + 5]);
      expect(falls('intervention', 'total').denominator).toBeCloseTo(10 + 1, 9);
      expect(r.participantsReleased).toBe(6);
    } finally {
      await reg.grantConsent({ participantId: 'P2', scope: 'research', grantedAt: T + 29 * DAY, formVersion: 'v2' });
    }
  });

  it('suppress cells of fewer participants than the threshold for researchers and vendors, never for arena staff', async () => {
    const researcher = await report({ role: 'researcher' });
    const cell = { indicator: 'time_to_ack', statistic: 'p50', bucket: 'total', subject: null };
    // 8 baseline alarms over 6 participants are shown; 4 intervention alarms over 4 are not.
    expect(find(researcher, { ...cell, period: 'baseline' })).toMatchObject({ value: 135, suppressed: false });
    expect(find(researcher, { ...cell, period: 'intervention' })).toMatchObject({ value: null, numerator: null, suppressed: true });
    expect(researcher.comparisons.find((c) => c.indicator === 'time_to_ack' && c.statistic === 'p50')).toMatchObject({ estimate: null, suppressed: true });
    expect(researcher.histograms.find((h) => h.indicator === 'time_to_ack' && h.period === 'intervention')).toMatchObject({ counts: null, suppressed: true });
    // Per-participant completeness describes one person: always suppressed for a researcher.
    const personal = researcher.rows.filter((x) => x.subject?.startsWith('pseudo-'));
    expect(personal.length).toBeGreaterThan(0);
    expect(personal.every((x) => x.suppressed && x.value === null)).toBe(true);
    expect(researcher.suppression).toBe(true);
    expect(researcher.suppressedCells).toBe(researcher.rows.filter((x) => x.suppressed).length);

    const admin = await report({ role: 'admin' });
    expect(find(admin, { ...cell, period: 'intervention' })).toMatchObject({ value: 50, suppressed: false });
    expect(admin.rows.every((x) => !x.suppressed)).toBe(true);

    const strict = await report({ role: 'researcher' }, { minCell: 7 });
    expect(strict.rows.every((x) => x.suppressed)).toBe(true);
  });

  it('give a vendor only the delivery indicators of its own devices, with no participant as subject', async () => {
    const r = await report({ role: 'vendor', vendorId: 'dosebox' });
    expect(new Set(r.indicators.map((d) => d.id))).toEqual(new Set(['offline_episodes', 'technical_alarms', 'completeness', 'uptime', 'rejection_rate']));
    expect(r.rows.every((x) => x.subject === null || x.subject === 'DoseBox DoseBox home dispenser')).toBe(true);
    const tech = find(r, { indicator: 'technical_alarms', statistic: 'rate', period: 'baseline', bucket: 'total', subject: null });
    expect([tech?.numerator, tech?.denominator]).toEqual([2, 12]);
    const aqua = await report({ role: 'vendor', vendorId: 'aquascale' });
    expect(find(aqua, { indicator: 'technical_alarms', statistic: 'rate', period: 'baseline', bucket: 'total', subject: null })?.numerator).toBe(0);
  });

  it('give the trial the status its period says, and never move it back', async () => {
    const trial = (await reg.getTrial(TRIAL))!;
    expect(trial.status).toBe('planned');
    expect(statusAt(trial, T - DAY)).toBe('planned');
    expect(statusAt(trial, T + DAY)).toBe('running');
    expect(statusAt(trial, T + 28 * DAY)).toBe('completed');
    expect(statusAt({ ...trial, status: 'archived' }, T + DAY)).toBe('archived');
    expect((await report({ role: 'admin' }, { now: T + 3 * DAY })).trial.status).toBe('running');
    expect((await report({ role: 'admin' })).trial.status).toBe('completed');
  });
});

describe('an archived trial', () => {
  // Last in this file: archiving moves the seeded points out of the table.
  it('reports as before: the indicators read the trial archives as well as the table', async () => {
    const before = await report({ role: 'admin' });
    expect(await store.archiveTrial!(TRIAL)).toBeGreaterThan(0);
    const after = await report({ role: 'admin' });
    expect(after.rows).toEqual(before.rows);
    expect(after.comparisons).toEqual(before.comparisons);
    expect(after.histograms).toEqual(before.histograms);
  });
});
