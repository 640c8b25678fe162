import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { launchChromium } from './chromium.js';

/**
 * An arena's own catalogue file (ARENA_CATALOGUE_DIR) adds an event with a VKP alert
 * code and a measurement; a profile uploaded through the API produces them. With no
 * code changed, the event raises an alarm with the arena's code and severity, and the
 * board names the alarm, the reading and the last event with the arena's labels.
 */
const ARENA_CATALOGUE = `events:
  slid_to_floor:
    label: { en: Slid from the bed to the floor, nb: Sklidd fra sengen ned på gulvet }
    alert: "4.1"
    severity: 40
  mat_stepped_on:
    label: { en: Stepped on the floor mat, nb: Tråkket på gulvmatten }
    alert: "4.18"
    severity: 10
    alarm: false
measurements:
  skin_temperature:
    unit: Cel
    type: number
    range: [25, 45]
    label: { en: Skin temperature, nb: Hudtemperatur }
`;

const FLOORMAT = `id: floormat
version: 1.0.0
family: fall-sensor
vendor: Floormat AS
model: Floormat 2
topics: ["devices/{deviceId}/mat"]
format: json
expectedIntervalS: 300
deviceIdPath: dev
time: { path: ts, format: epoch_s }
payload:
  type: object
  required: [dev, ts]
  properties:
    dev: { type: string }
    ts: { type: integer }
    what: { type: string }
    skin_dc: { type: integer }
readings:
  - { measurement: skin_temperature, value: skin_dc, unit: Cel, scale: 0.1, absent: ignore }
events:
  - from: what
    absent: ignore
    map:
      SLID: { event: slid_to_floor }
      STEP: { event: mat_stepped_on }
`;

let hub: TestHub;
let browser: Browser;
let mat: MqttClient;
let token: string;

const send = (body: object) => publish(mat, 'devices/FM-1/mat', JSON.stringify({ dev: 'FM-1', ts: Math.floor(Date.now() / 1000), ...body }));

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'arena-catalogue-'));
  writeFileSync(join(dir, 'floormat.yaml'), ARENA_CATALOGUE);
  hub = await startTestHub({ ARENA_CATALOGUE_DIR: dir });
  const ok = async (path: string, body: unknown) => expect((await hub.api(path, { body })).status).toBe(201);
  await ok('/v1/profiles', { yaml: FLOORMAT });
  await ok('/v1/sites', { id: 'ward-7', name: 'Sengepost 7', kind: 'patient-room' });
  await ok('/v1/sites/ward-7/rooms', { id: 'room-701', name: 'Rom 701', beds: 1 });
  await ok('/v1/vendors', { id: 'v-floormat', name: 'Floormat AS' });
  const created = await hub.api('/v1/devices', { body: { id: 'FM-1', vendorId: 'v-floormat', profileId: 'floormat', roomId: 'room-701', label: 'Gulvmatte' } });
  expect(created.status).toBe(201);
  const issued = await hub.api('/v1/tokens', { body: { role: 'clinician', siteIds: ['ward-7'], label: 'Sykepleier, post 7' } });
  token = issued.body.token;
  mat = await connect(hub.mqttPort, 'FM-1', created.body.secret);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  if (mat) await end(mat);
  await hub?.dispose();
});

describe("an arena's catalogue entry on the ward board, without code", () => {
  let page: Page;

  it('GET /v1/catalogue serves the arena entries beside the shipped ones', async () => {
    const { body } = await hub.api('/v1/catalogue');
    expect(body.events.find((e: { name: string }) => e.name === 'slid_to_floor')).toMatchObject({ alert: '4.1', severity: 40, alarm: true });
    expect(body.events.find((e: { name: string }) => e.name === 'mat_stepped_on')).toMatchObject({ alert: '4.18', alarm: false });
  });

  it("raises an alarm of the arena's event with its code and shows it with the arena's Norwegian label", async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 760 }, locale: 'nb-NO' });
    page = await context.newPage();
    await page.goto(`http://127.0.0.1:${hub.apiPort}/ward?site=ward-7#token=${token}`);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });

    await send({ skin_dc: 334 });
    await send({ what: 'STEP' });
    await send({ what: 'SLID' });
    const alarm = '[data-room="room-701"] li[data-event="slid_to_floor"][data-state="raised"]';
    await page.waitForSelector(alarm, { timeout: 10_000 });
    expect(await page.getAttribute(alarm, 'data-rule')).toBe('event');
    expect(await page.textContent(`${alarm} .alarm-title`)).toBe('Sklidd fra sengen ned på gulvet');
    expect(await page.textContent(`${alarm} .alarm-meta`)).toContain('VKP 4.1 Fall');
    expect(await page.getAttribute(alarm, 'class')).toContain('sev-40');
    await page.waitForSelector('[data-room="room-701"] [data-reading="skin_temperature"]');
    expect(await page.textContent('[data-room="room-701"] [data-reading="skin_temperature"] dt')).toBe('Hudtemperatur');
    expect(await page.textContent('[data-room="room-701"] [data-reading="skin_temperature"] dd')).toContain('33,4 °C');
    // Stepping on the mat has a code but no alarm (alarm: false): the only alarm is the slide.
    expect(await page.locator('[data-room="room-701"] li.alarm').count()).toBe(1);

    const { body } = await hub.api('/v1/alarms?state=open');
    expect(body.items.map((a: { rule: string; event: string; alertCode: string; severity: number }) => [a.rule, a.event, a.alertCode, a.severity])).toEqual([
      ['event', 'slid_to_floor', '4.1', 40],
    ]);
  });

  it('switches the same names to English with the language', async () => {
    await page.click('#lang');
    const alarm = '[data-room="room-701"] li[data-event="slid_to_floor"] .alarm-title';
    await page.locator(alarm, { hasText: 'Slid from the bed to the floor' }).waitFor();
    expect(await page.textContent('[data-room="room-701"] [data-reading="skin_temperature"] dt')).toBe('Skin temperature');
    expect(await page.textContent('[data-room="room-701"] .last-event')).toContain('Slid from the bed to the floor');
  });
});
