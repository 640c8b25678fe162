import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { loadProfiles } from '../../device-profiles/load.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Registry } from '../../kernel/registry.js';
import type { SqlClient } from '../../kernel/sql.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { parseCsv } from '../helpers/datasets.js';
import { launchChromium } from '../ward/chromium.js';
import { DAY, seedFluidTargets, seedRegistry, seedStore, T, TRIAL } from './world.js';

// A picture of the seeded report only on request (REPORT_SCREENSHOT=<path>); the README's is the walk-through's (tests/e2e/walkthrough.test.ts).
const SCREENSHOT = process.env.REPORT_SCREENSHOT ?? join(tmpdir(), `trial-report-${process.pid}.png`);

let dir: string;
let reg: Registry & TokenRegistry;
let store: TelemetryStore;
let app: FastifyInstance;
let alarms: AlarmEngine;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'reports-api-'));
  const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * DAY, maxFutureMs: 60_000 });
  // The alarm tables, with the clinicians' targets, in the registry's database as in the hub.
  const sql: SqlClient = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  reg = await openSqlRegistry(sql, { profiles });
  store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  await seedRegistry(reg);
  await seedStore(store);
  await seedFluidTargets(sql);
  const config = { timeZone: 'UTC', tickMs: 3_600_000, replayMs: 3_600_000 };
  alarms = await openAlarmEngine({ sql, store, profiles, logger: createLogger('silent'), config, publish: () => undefined });
  await reg.createVendor({ id: 'outsider', name: 'Not in the trial' });
  await reg.createTrial({ id: 'other', name: 'Other', siteId: 'site-e', vendorIds: ['outsider'], protocolRef: 'REK 2', period: { from: T, to: T + DAY } });
  const issue = async (name: string, p: Parameters<TokenRegistry['issueToken']>[0]) => {
    tokens[name] = (await reg.issueToken(p)).token;
  };
  await issue('admin', { role: 'admin', label: 'admin', expiresAt: null });
  await issue('researcher', { role: 'researcher', trialIds: [TRIAL], label: 'study', expiresAt: null });
  await issue('otherResearcher', { role: 'researcher', trialIds: ['other'], label: 'other', expiresAt: null });
  await issue('dosebox', { role: 'vendor', vendorId: 'dosebox', label: 'db', expiresAt: null });
  await issue('outsider', { role: 'vendor', vendorId: 'outsider', label: 'out', expiresAt: null });
  await issue('clinician', { role: 'clinician', siteIds: ['site-e'], label: 'nurse', expiresAt: null });
  app = await buildApp({ registry: reg, store, profiles, logger: createLogger('silent'), alarms, now: () => T + 30 * DAY });
}, 60_000);
afterAll(async () => {
  await app?.close();
  await alarms?.close();
  await store?.close();
  await reg?.close();
  rmSync(dir, { recursive: true, force: true });
});

const get = (token: string, query = '') =>
  app.inject({ method: 'GET', url: `/v1/trials/${TRIAL}/report${query}`, headers: { authorization: `Bearer ${token}` } });

describe('GET /v1/trials/{id}/report', () => {
  it('refuses the wrong role and the wrong binding like a missing trial', async () => {
    expect((await app.inject({ method: 'GET', url: `/v1/trials/${TRIAL}/report` })).statusCode).toBe(401);
    expect((await get(tokens.clinician!)).statusCode).toBe(403);
    expect((await get(tokens.otherResearcher!)).statusCode).toBe(404);
    expect((await get(tokens.outsider!)).statusCode).toBe(404);
    expect((await get(tokens.researcher!, '?format=pdf')).statusCode).toBe(400);
  });

  it('is recorded as an export, with the definitions version in its manifest, and audited', async () => {
    const res = await get(tokens.researcher!);
    expect(res.statusCode).toBe(200);
    const body = res.json() as { exportId: string; definitionsVersion: string; suppression: boolean; trial: { status: string } };
    expect(body.exportId).toBe(res.headers['x-export-id']);
    expect(body.suppression).toBe(true);
    expect(body.trial.status).toBe('completed');
    const manifest = await app.inject({
      method: 'GET',
      url: `/v1/exports/${body.exportId}/manifest`,
      headers: { authorization: `Bearer ${tokens.researcher}` },
    });
    expect(manifest.json()).toMatchObject({
      kind: 'trial-report',
      trialId: TRIAL,
      audience: 'researcher',
      definitionsVersion: body.definitionsVersion,
      minCellParticipants: 5,
    });
    const audit = await app.inject({
      method: 'GET',
      url: `/v1/audit?action=${encodeURIComponent('GET /v1/trials/:id/report')}`,
      headers: { authorization: `Bearer ${tokens.admin}` },
    });
    const entries = (audit.json() as { items: unknown[] }).items;
    expect(entries.some((e) => JSON.stringify(e).includes(body.exportId))).toBe(true);
  });

  it('gives a vendor only the delivery indicators, without participants', async () => {
    const res = await get(tokens.dosebox!, '?format=csv');
    expect(res.statusCode).toBe(200);
    const rows = parseCsv(res.body);
    expect(new Set(rows.map((r) => r.indicator))).toEqual(new Set(['offline_episodes', 'technical_alarms', 'completeness', 'uptime']));
    expect(rows.every((r) => r.subject === null || r.subject === 'DoseBox DoseBox home dispenser')).toBe(true);
  });

  it('writes CSV one row per indicator × period × week × subject, codes as quoted text', async () => {
    const res = await get(tokens.admin!, '?format=csv');
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const [header, ...lines] = res.body.split('\r\n');
    expect(header).toBe(
      'indicator,statistic,period,bucket,subject,value,numerator,denominator,participants,ci_low,ci_high,suppressed,unit,definitions_version',
    );
    expect(lines).toContain('"alarms_by_code","rate","baseline","total","1.20",0.16666666666666666,2,12,6,,,false,"1/participant-week","1.1.0"');
    const weeks = parseCsv(res.body).filter((r) => r.indicator === 'falls' && r.bucket !== 'total');
    expect(weeks.map((r) => [r.period, r.bucket, r.numerator])).toEqual([
      ['baseline', '2025-03-03', '6'],
      ['baseline', '2025-03-10', '4'],
      ['intervention', '2025-03-17', '3'],
      ['intervention', '2025-03-24', '2'],
    ]);
  });

  it("judges fluid days by the clinicians' targets as the alarm settings kept them, and a vendor's report has none of it", async () => {
    const rows = parseCsv((await get(tokens.admin!, '?format=csv')).body).filter((r) => r.indicator === 'fluid_days_in_target' && r.bucket === 'total');
    expect(rows.map((r) => [r.period, r.numerator, r.denominator, r.participants])).toEqual([
      ['baseline', '19', '27', '3'],
      ['intervention', '26', '34', '3'],
    ]);
    // Three participants: fewer than five, suppressed for a researcher.
    const researcher = parseCsv((await get(tokens.researcher!, '?format=csv')).body).filter((r) => r.indicator === 'fluid_days_in_target');
    expect(researcher.length).toBeGreaterThan(0);
    expect(researcher.every((r) => r.suppressed === 'true' && r.value === null)).toBe(true);
    expect(parseCsv((await get(tokens.dosebox!, '?format=csv')).body).some((r) => r.indicator === 'fluid_days_in_target')).toBe(false);
  });

  it("leaves datasets with each device's expected interval, and no pseudonym in the stored manifest", async () => {
    const manifestOf = async (token: string) => {
      const res = await app.inject({ method: 'GET', url: `/v1/trials/${TRIAL}/dataset?format=csv`, headers: { authorization: `Bearer ${token}` } });
      expect(res.statusCode).toBe(200);
      const m = await app.inject({ method: 'GET', url: `/v1/exports/${res.headers['x-export-id']}/manifest`, headers: { authorization: `Bearer ${token}` } });
      return m.json() as { trial: { interventionFrom: string }; denominators: { devices: { deviceId: string; expectedIntervalS: number }[] } };
    };
    const research = await manifestOf(tokens.researcher!);
    expect(research.trial.interventionFrom).toBe(new Date(T + 14 * DAY).toISOString());
    expect(research.denominators.devices.find((d) => d.deviceId === 'RS-1')?.expectedIntervalS).toBe(60);
    expect(research.denominators.devices.find((d) => d.deviceId === 'AQ-1')?.expectedIntervalS).toBe(86_400);
    expect(JSON.stringify(research)).not.toMatch(/"pseudonym"/);
    const vendor = await manifestOf(tokens.dosebox!);
    expect(new Set(vendor.denominators.devices.map((d) => d.deviceId.slice(0, 2)))).toEqual(new Set(['DB']));
  });

  it("defines the hub's alarm events and every attribute key in the codebook, and how to read codes as text", async () => {
    const res = await app.inject({ method: 'GET', url: `/v1/trials/${TRIAL}/codebook`, headers: { authorization: `Bearer ${tokens.researcher}` } });
    const c = res.json() as {
      events: { name: string; profiles: string[] }[];
      attributes: { key: string; events: string[] }[];
      readAs: { textColumns: string[]; pandas: string; r: string };
    };
    for (const name of ['alarm_raised', 'alarm_acknowledged', 'alarm_resolved', 'alarm_false_alarm'])
      expect(c.events.find((e) => e.name === name)?.profiles).toEqual(['hub-alarms']);
    expect(c.attributes.find((a) => a.key === 'secondsSinceRaised')?.events).toContain('alarm_acknowledged');
    expect(c.attributes.find((a) => a.key === 'window_min')?.events).toContain('dose_ready');
    expect(c.readAs.textColumns).toEqual(expect.arrayContaining(['alert_code', 'dispense_code', 'pseudonym']));
    expect(c.readAs.pandas).toContain("'alert_code': str");
    expect(c.readAs.r).toContain('alert_code = "character"');
  });

  it('renders the HTML report in headless Chromium, in both languages, with its plots and no request beyond itself', async () => {
    const browser: Browser = await launchChromium();
    try {
      for (const lang of ['en', 'nb'] as const) {
        const res = await get(tokens.researcher!, `?format=html&lang=${lang}`);
        expect(res.headers['content-type']).toMatch(/^text\/html/);
        const page = await browser.newPage({ viewport: { width: 1000, height: 1400 } });
        const requests: string[] = [];
        page.on('request', (r) => requests.push(r.url()));
        await page.setContent(res.body, { waitUntil: 'load' });
        expect(await page.getAttribute('html', 'lang')).toBe(lang);
        expect(await page.textContent('h1')).toContain(lang === 'en' ? 'Trial report' : 'Rapport fra utprøvingen');
        expect(await page.textContent('.note')).toContain(lang === 'en' ? 'fewer than 5 participants' : 'færre enn 5 deltakere');
        // A weekly series per plotted indicator, with the baseline shaded; the response-time histograms.
        expect(await page.locator('svg rect[fill="#dfe8f5"]').count()).toBeGreaterThan(5);
        expect(await page.locator('figure svg').count()).toBeGreaterThan(10);
        // Every indicator computed, the days within the fluid target among the plotted ones.
        expect(
          await page.locator('figcaption', { hasText: lang === 'en' ? 'Days within the fluid-balance target' : 'Dager innenfor væskebalansemålet' }).count(),
        ).toBe(1);
        expect(await page.textContent('body')).not.toContain(lang === 'en' ? 'Not computable yet' : 'Kan ikke beregnes ennå');
        const box = await page.locator('figure svg').first().boundingBox();
        expect(box!.width).toBeGreaterThan(200);
        expect(requests).toEqual([]);
        await page.emulateMedia({ media: 'print' });
        expect(await page.pdf({ format: 'A4' })).toBeInstanceOf(Buffer);
        await page.emulateMedia({ media: 'screen' });
        if (lang === 'en') await page.screenshot({ path: SCREENSHOT, fullPage: true, clip: { x: 0, y: 0, width: 1000, height: 2700 } });
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 60_000);
});
