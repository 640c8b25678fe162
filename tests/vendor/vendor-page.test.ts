import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BEACON } from '../conformance/beacon.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { launchChromium } from '../ward/chromium.js';

/**
 * The vendor page end to end in Debian's chromium (playwright-core), against the
 * all-in-one hub with devices publishing over MQTT. The README's picture is refreshed only
 * on request (VENDOR_SCREENSHOT=docs/vendor-page.png), so a test run leaves the tree clean.
 */
const SCREENSHOT = process.env.VENDOR_SCREENSHOT ?? join(tmpdir(), `vendor-page-${process.pid}.png`);

let hub: TestHub;
let browser: Browser;
let page: Page;
let token: string;
const clients: MqttClient[] = [];
const secrets: Record<string, string> = {};

beforeAll(async () => {
  hub = await startTestHub();
  expect((await hub.api('/v1/profiles', { body: { yaml: BEACON } })).status).toBe(201);
  await hub.api('/v1/vendors', { body: { id: 'beacon', name: 'Beacon Devices' } });
  await hub.api('/v1/vendors', { body: { id: 'other', name: 'Other AS' } });
  for (const [id, vendorId, profileId] of [
    ['BK-1', 'beacon', 'beacon'],
    ['FW-7', 'beacon', 'beacon'],
    ['OTHER-1', 'other', 'aquascale'],
  ] as const) {
    const created = await hub.api('/v1/devices', { body: { id, vendorId, profileId, label: id === 'BK-1' ? 'Scale, flat 2' : '' } });
    expect(created.status).toBe(201);
    secrets[id] = created.body.secret;
  }
  token = (await hub.api('/v1/tokens', { body: { role: 'vendor', vendorId: 'beacon', label: 'beacon engineers' } })).body.token;

  // BK-P measures a participant who has not let vendors see their data (no vendor.telemetry consent).
  const ok = async (path: string, body: unknown) => expect((await hub.api(path, { body })).status, path).toBe(201);
  const start = Date.now() - 60_000;
  await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 1 });
  const assigned = await hub.api('/v1/devices', { body: { id: 'BK-P', vendorId: 'beacon', profileId: 'beacon', roomId: 'room-1' } });
  expect(assigned.status).toBe(201);
  await ok('/v1/trials', {
    id: 'fluid',
    name: 'Fluid',
    siteId: 'ward',
    vendorIds: ['beacon'],
    protocolRef: 'REK 2026/1',
    period: { from: start, to: start + 86_400_000 },
  });
  await ok('/v1/trials/fluid/participants', { id: 'P-1' });
  await ok('/v1/trials/fluid/assignments', { deviceId: 'BK-P', participantId: 'P-1', roomId: 'room-1', bed: 1, from: start });
  const private_ = await connect(hub.mqttPort, 'BK-P', assigned.body.secret, { keepalive: 30 });
  clients.push(private_);
  await publish(private_, 'devices/BK-P/data', JSON.stringify({ t: Date.now(), w: 64.2, bat: 41, diagnosis_note: 'secret-word' }));

  const beacon = await connect(hub.mqttPort, 'BK-1', secrets['BK-1']!, {
    keepalive: 30,
    will: { topic: 'devices/BK-1/data', payload: Buffer.from('{}'), qos: 1, retain: false },
  });
  const scale = await connect(hub.mqttPort, 'FW-7', secrets['FW-7']!, { keepalive: 30 });
  clients.push(beacon, scale);
  await publish(beacon, 'devices/BK-1/data', JSON.stringify({ t: Date.now(), w: 72.4, bat: 88 }));
  await publish(beacon, 'devices/BK-1/data', JSON.stringify({ t: Date.now(), w: 72.5, bat: 87, firmware_note: 'beta' }));
  await publish(scale, 'devices/FW-7/data', JSON.stringify({ t: Date.now(), w: 71, bat: 64 }));

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 }, locale: 'en-GB', acceptDownloads: true });
  page = await context.newPage();
  await page.goto(`http://127.0.0.1:${hub.apiPort}/vendor#token=${token}`);
}, 60_000);

afterAll(async () => {
  for (const c of clients) await end(c);
  await browser?.close();
  await hub?.dispose();
  if (!process.env.VENDOR_SCREENSHOT) rmSync(SCREENSHOT, { force: true });
});

describe('vendor page', () => {
  it("lists the vendor's own devices with their state and battery, and no one else's", async () => {
    await page.waitForSelector('#device-BK-1 td.online');
    expect(await page.textContent('#device-BK-1')).toMatch(/BK-1 · Scale, flat 2.*beacon 1\.0\.0.*Online.*87 %/);
    expect(await page.textContent('#device-FW-7')).toContain('without a last will');
    expect(await page.$('#device-OTHER-1')).toBeNull();
    // The token left the address bar.
    expect(page.url()).not.toContain(token);
  });

  it('shows each rejection with the offending field highlighted in the raw payload', async () => {
    await page.waitForSelector('#rejections li .hit');
    expect(await page.textContent('#rejections li .code')).toBe('FIELD_UNMAPPED');
    expect(await page.textContent('#rejections li .hit')).toBe('"firmware_note": "beta"');
  });

  it("withholds what the participant's consent does not release: the raw payload and the battery of a device measuring them", async () => {
    await page.waitForSelector('#rejections .withheld');
    expect(await page.textContent('#rejections')).toContain('BK-P');
    expect(await page.textContent('#rejections')).toContain('diagnosis_note');
    expect(await page.textContent('main')).not.toContain('secret-word');
    expect(await page.textContent('#device-BK-P')).toMatch(/–$/);
  });

  it('tries a payload: the rejection and its path, then the points it would store', async () => {
    await page.selectOption('#try-profile', 'beacon');
    await page.fill('#try-payload', '{"t": 1, "w": "heavy"}');
    await page.click('#try button[type=submit]');
    await page.waitForSelector('#try-result .result .hit');
    expect(await page.textContent('#try-result .result .code')).toBe('SCHEMA_VIOLATION');
    expect(await page.textContent('#try-result .result .hit')).toBe('"w": "heavy"');
    await page.fill('#try-payload', JSON.stringify({ t: Date.now(), w: 70, bat: 50 }));
    await page.click('#try button[type=submit]');
    await page.waitForSelector('#try-result .result.ok');
    expect(await page.textContent('#try-result')).toContain('The hub would store 2 points');
    expect((await hub.api('/v1/devices/BK-1/readings?limit=10')).body.items).toHaveLength(4);
  });

  it('starts a conformance run and downloads its report', { timeout: 30_000 }, async () => {
    await page.selectOption('#run-device', 'BK-1');
    await page.fill('#run-duration', '2');
    await page.click('#start-run button[type=submit]');
    await page.waitForSelector('#runs td.running');
    await page.waitForSelector('#runs td.failed, #runs td.passed', { timeout: 20_000 });
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#runs a:text("HTML")')]);
    const path = await download.path();
    const { readFileSync } = await import('node:fs');
    const html = readFileSync(path, 'utf8');
    expect(html).toContain('Conformance report: BK-1');
    expect(html).toContain('beacon 1.0.0');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
  });

  it('speaks Norwegian', async () => {
    await page.click('#lang');
    expect(await page.textContent('h1')).toBe('Leverandørside');
    expect(await page.textContent('#try button[type=submit]')).toBe('Prøv');
  });
});
