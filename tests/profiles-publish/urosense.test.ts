import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNdjson } from '../helpers/datasets.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';

/**
 * The README's vendor example end to end: UroSense (docs/examples/urosense/), a device no
 * shipped profile describes, brought in with YAML only. Its catalogue file adds a
 * measurement and an event (ARENA_CATALOGUE_DIR); its profile (batches of samples with
 * times in epoch seconds, a volume in tenths of a millilitre, two message shapes on one
 * topic) is uploaded through the API to the running hub; its messages are then stored,
 * read back and exported with the right values, units, names and profile version.
 */
const EXAMPLE = 'docs/examples/urosense';
const HOUR = 3_600_000;
let hub: TestHub;
let researcher: string;
let secret: string;

beforeAll(async () => {
  hub = await startTestHub({ ARENA_CATALOGUE_DIR: `${EXAMPLE}/catalogue` });
  const now = Date.now();
  const ok = async (path: string, body: unknown) => {
    const res = await hub.api(path, { body });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  };
  await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 1 });
  await ok('/v1/vendors', { id: 'urosense', name: 'UroSense' });
  await ok('/v1/trials', {
    id: 'uro',
    name: 'Urine output',
    siteId: 'ward',
    vendorIds: ['urosense'],
    protocolRef: 'REK 2026/2',
    period: { from: now - 24 * HOUR, to: now + 24 * HOUR },
  });
  await ok('/v1/trials/uro/participants', { id: 'p-1' });
  await ok('/v1/participants/p-1/consents', { scope: 'research', grantedAt: now - 2 * HOUR, formVersion: 'v1' });
  researcher = (await ok('/v1/tokens', { role: 'researcher', trialIds: ['uro'], label: 'study' })).token;
}, 60_000);
afterAll(async () => {
  await hub?.dispose();
});

describe('a new device by YAML alone (README, vendor section)', () => {
  it("knows the example's catalogue entries, with their labels", async () => {
    const catalogue = (await hub.api('/v1/catalogue')).body;
    expect(JSON.stringify(catalogue)).toContain('urine_bag_volume');
    expect(JSON.stringify(catalogue)).toContain('urine_bag_full');
  });

  it('takes the profile through the API, then stores, reads back and exports its batches and status messages', async () => {
    const published = await hub.api('/v1/profiles', { body: { yaml: readFileSync(`${EXAMPLE}/profile.yaml`, 'utf8') } });
    expect(published.status, JSON.stringify(published.body)).toBe(201);

    const device = await hub.api('/v1/devices', { body: { id: 'US-1', vendorId: 'urosense', profileId: 'urosense', roomId: 'room-1' } });
    expect(device.status, JSON.stringify(device.body)).toBe(201);
    secret = device.body.secret;
    const from = Date.now() - HOUR;
    expect((await hub.api('/v1/trials/uro/assignments', { body: { deviceId: 'US-1', participantId: 'p-1', roomId: 'room-1', bed: 1, from } })).status).toBe(
      201,
    );

    // Three buffered samples a minute apart, in epoch seconds, volumes in tenths of a millilitre; then a status message on the same topic.
    const t0 = Math.floor(Date.now() / 1000) - 600;
    const c = await connect(hub.mqttPort, 'US-1', secret);
    try {
      await publish(
        c,
        'devices/US-1/data',
        JSON.stringify({ type: 'samples', dev: 'US-1', fw: '1.0.3', samples: [0, 1, 2].map((i) => ({ t: t0 + 60 * i, vol: [1234, 1250, 1262][i] })) }),
      );
      await publish(c, 'devices/US-1/data', JSON.stringify({ type: 'status', dev: 'US-1', t: t0 + 180, state: 'BAG_FULL', battery: 81 }));
    } finally {
      await end(c);
    }

    const readings = await until('four readings of US-1', async () => {
      const items = (await hub.api('/v1/devices/US-1/readings?limit=100')).body.items as {
        name: string;
        value: number;
        unit: string;
        deviceTime: string;
        profileVersion?: string;
      }[];
      return items.length >= 4 ? items : undefined;
    });
    const volumes = readings.filter((r) => r.name === 'urine_bag_volume').sort((a, b) => a.deviceTime.localeCompare(b.deviceTime));
    expect(volumes.map((r) => [r.value, r.unit, Date.parse(r.deviceTime) / 1000, r.profileVersion])).toEqual([
      [123.4, 'mL', t0, '1.0.0'],
      [125, 'mL', t0 + 60, '1.0.0'],
      [126.2, 'mL', t0 + 120, '1.0.0'],
    ]);
    expect(readings.find((r) => r.name === 'battery_level')).toMatchObject({ value: 81, unit: '%' });
    const events = (await hub.api('/v1/devices/US-1/events?limit=100')).body.items as { name: string; deviceTime: string }[];
    expect(events.map((e) => [e.name, Date.parse(e.deviceTime) / 1000])).toEqual([['urine_bag_full', t0 + 180]]);
    expect((await hub.api('/v1/devices/US-1/rejections')).body.items).toEqual([]);

    const res = await fetch(`http://127.0.0.1:${hub.apiPort}/v1/trials/uro/dataset?format=ndjson`, { headers: { authorization: `Bearer ${researcher}` } });
    expect(res.status).toBe(200);
    const rows = parseNdjson(await res.text()).filter((r) => r.device_id === 'US-1');
    expect(
      rows
        .filter((r) => r.name === 'urine_bag_volume')
        .map((r) => [r.value, r.unit, r.profile_id, r.profile_version])
        .sort((a, b) => Number(a[0]) - Number(b[0])),
    ).toEqual([
      [123.4, 'mL', 'urosense', '1.0.0'],
      [125, 'mL', 'urosense', '1.0.0'],
      [126.2, 'mL', 'urosense', '1.0.0'],
    ]);
    expect(rows.some((r) => r.name === 'urine_bag_full')).toBe(true);
  });
});
