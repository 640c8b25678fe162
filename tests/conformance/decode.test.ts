import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';

// POST /v1/profiles/{id}/decode on the all-in-one hub: what would be stored, with nothing stored or counted.

let hub: TestHub;
let vendorA: string;
let vendorB: string;
let clinician: string;
beforeAll(async () => {
  hub = await startTestHub();
  for (const [id, name] of [
    ['vendor-a', 'AquaScale'],
    ['vendor-b', 'Other Devices AS'],
  ])
    expect((await hub.api('/v1/vendors', { body: { id, name } })).status).toBe(201);
  expect((await hub.api('/v1/devices', { body: { id: 'AQ-1', vendorId: 'vendor-a', profileId: 'aquascale' } })).status).toBe(201);
  expect((await hub.api('/v1/devices', { body: { id: 'RS-9', vendorId: 'vendor-b', profileId: 'roomsense-3d' } })).status).toBe(201);
  const token = async (body: Record<string, unknown>) => (await hub.api('/v1/tokens', { body: { label: 't', ...body } })).body.token as string;
  vendorA = await token({ role: 'vendor', vendorId: 'vendor-a' });
  vendorB = await token({ role: 'vendor', vendorId: 'vendor-b' });
  expect((await hub.api('/v1/sites', { body: { id: 'site-a', name: 'Ward A', kind: 'patient-room' } })).status).toBe(201);
  clinician = await token({ role: 'clinician', siteIds: ['site-a'] });
}, 60_000);
afterAll(async () => hub?.dispose());

const weight = (unit: string) => ({ serial: 'AQ-1', measured_at: new Date().toISOString(), kind: 'weight', value: 72450, unit });

describe('POST /v1/profiles/{id}/decode', () => {
  it('answers the points the hub would store, and stores and counts nothing', async () => {
    const counters = async () => {
      const { disk: _free, journal: _journal, ...counts } = (await hub.api('/v1/ingest/stats')).body;
      return counts;
    };
    const before = await counters();
    const good = await hub.api('/v1/profiles/aquascale/decode', { token: vendorA, body: { deviceId: 'AQ-1', payload: weight('g') } });
    expect(good.status).toBe(200);
    expect(good.body).toMatchObject({
      profileId: 'aquascale',
      version: '1.0.0',
      deviceId: 'AQ-1',
      topic: 'devices/AQ-1/measurements',
      storedWhole: true,
      stored: false,
      points: [{ kind: 'reading', name: 'body_weight', value: 72.45, unit: 'kg', clockSkewed: false, profileVersion: '1.0.0' }],
      rejections: [],
    });
    const bad = await hub.api('/v1/profiles/aquascale/decode', { token: vendorA, body: { deviceId: 'AQ-1', payload: weight('stone') } });
    expect(bad.body).toMatchObject({ storedWhole: false, points: [], rejections: [{ code: 'UNIT_UNKNOWN', path: 'unit' }] });
    const broken = await hub.api('/v1/profiles/aquascale/decode', { token: vendorA, body: { deviceId: 'AQ-1', payload: '{"serial": "AQ-1",' } });
    expect(broken.body.rejections).toEqual([expect.objectContaining({ code: 'PAYLOAD_NOT_JSON', path: '' })]);
    const foreignTopic = await hub.api('/v1/profiles/aquascale/decode', {
      body: { deviceId: 'AQ-1', topic: 'devices/AQ-2/measurements', payload: weight('g') },
    });
    expect(foreignTopic.body.rejections).toEqual([expect.objectContaining({ code: 'TOPIC_NOT_ALLOWED' })]);

    expect(await counters()).toEqual(before);
    expect(before.received).toBe(0);
    expect((await hub.api('/v1/devices/AQ-1/readings')).body.items).toEqual([]);
    expect((await hub.api('/v1/devices/AQ-1/rejections')).body.items).toEqual([]);
    expect((await hub.api('/v1/rejections/summary')).body.total).toBe(0);
  });

  it("a vendor tries its own profiles only: another's answers 404 exactly like an unknown one", async () => {
    const others = await hub.api('/v1/profiles/aquascale/decode', { token: vendorB, body: { payload: weight('g') } });
    const unknown = await hub.api('/v1/profiles/no-such/decode', { token: vendorB, body: { payload: weight('g') } });
    expect(others.status).toBe(404);
    expect(unknown.status).toBe(404);
    expect(others.body.code).toBe(unknown.body.code);
    // Its own by device (roomsense-3d) and by name: none of vendor-a's devices is a roomsense, and vendor-a is not RoomSense.
    expect((await hub.api('/v1/profiles/roomsense-3d/decode', { token: vendorB, body: { payload: '{}' } })).status).toBe(200);
    expect((await hub.api('/v1/profiles/roomsense-3d/decode', { token: vendorA, body: { payload: '{}' } })).status).toBe(404);
    // Another vendor's device answers like a missing one too.
    expect((await hub.api('/v1/profiles/aquascale/decode', { token: vendorA, body: { deviceId: 'RS-9', payload: weight('g') } })).status).toBe(404);
    // The admin tries every profile; other roles none.
    expect((await hub.api('/v1/profiles/roomsense-3d/decode', { body: { payload: '{}' } })).status).toBe(200);
    expect((await hub.api('/v1/profiles/aquascale/decode', { token: clinician, body: { payload: '{}' } })).status).toBe(403);
  });
});
