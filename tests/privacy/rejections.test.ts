import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';

/**
 * Rejections are attributed like points, through the real broker and ingest: the raw
 * payload goes to the vendor only under the vendor.telemetry consent of the participant
 * the device measured when the message arrived; code, path and message always.
 */
let hub: TestHub;
const devices = new Map<string, MqttClient>();
let vendor: string;
let consentId: string;
const HOUR = 3_600_000;
const start = Date.now() - HOUR;

interface RejectionView {
  deviceId: string;
  code: string;
  path: string;
  message: string;
  payload: string | null;
  participantId?: string | null;
}

/** A weight in an unknown unit: UNIT_UNKNOWN, with the value in the payload only. */
const badWeight = (id: string, value: number) =>
  publish(
    devices.get(id)!,
    `devices/${id}/measurements`,
    JSON.stringify({ serial: id, measured_at: new Date().toISOString(), kind: 'weight', value, unit: 'stone' }),
  );

async function rejectionsOf(id: string, as: 'vendor' | 'admin' = 'vendor'): Promise<RejectionView[]> {
  const token = as === 'vendor' ? vendor : undefined; // undefined: the hub's admin token
  const res = await hub.api(`/v1/devices/${id}/rejections`, { token });
  expect(res.status).toBe(200);
  const fleet = await hub.api('/v1/rejections?limit=1000', { token });
  expect(fleet.status).toBe(200);
  // The fleet route releases exactly like the per-device one.
  expect(fleet.body.items.filter((r: RejectionView) => r.deviceId === id)).toEqual(res.body.items);
  return res.body.items;
}

beforeAll(async () => {
  hub = await startTestHub();
  const ok = async (path: string, body: unknown, status = 201) => {
    const res = await hub.api(path, { body });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(status);
    return res.body;
  };
  await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 3 });
  await ok('/v1/vendors', { id: 'aqua', name: 'AquaScale' });
  await ok('/v1/trials', {
    id: 'fluid',
    name: 'Fluid balance',
    siteId: 'ward',
    vendorIds: ['aqua'],
    protocolRef: 'REK 2025/1',
    period: { from: start, to: start + 24 * HOUR },
  });
  await ok('/v1/trials/fluid/participants', { id: 'P-YES' });
  await ok('/v1/trials/fluid/participants', { id: 'P-NO' });
  consentId = (await ok('/v1/participants/P-YES/consents', { scope: 'vendor.telemetry', grantedAt: start, formVersion: 'v1' })).id;
  await ok('/v1/participants/P-NO/consents', { scope: 'research', grantedAt: start, formVersion: 'v1' });
  for (const [id, participantId, bed] of [
    ['AQ-YES', 'P-YES', 1],
    ['AQ-NO', 'P-NO', 2],
    ['AQ-FREE', null, 3],
  ] as const) {
    const created = await ok('/v1/devices', { id, vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
    if (participantId) await ok('/v1/trials/fluid/assignments', { deviceId: id, participantId, roomId: 'room-1', bed, from: start });
    devices.set(id, await connect(hub.mqttPort, id, created.secret));
  }
  vendor = (await ok('/v1/tokens', { role: 'vendor', vendorId: 'aqua', label: 'aqua' })).token;
  await badWeight('AQ-YES', 81.2345);
  await badWeight('AQ-NO', 64.5432);
  await badWeight('AQ-FREE', 12.3456);
});
afterAll(async () => {
  for (const c of devices.values()) await end(c);
  await hub?.dispose();
});

describe('rejections under consent', () => {
  it("shows the vendor the payload of a consenting participant's device, without who it is", async () => {
    const [r] = await rejectionsOf('AQ-YES');
    expect(r).toMatchObject({ code: 'UNIT_UNKNOWN', path: expect.any(String), message: expect.any(String) });
    expect(r!.payload).toContain('81.2345');
    expect(r).not.toHaveProperty('participantId');
  });

  it('withholds the payload without consent, but still gives code, path and message', async () => {
    const [r] = await rejectionsOf('AQ-NO');
    expect(r).toMatchObject({ code: 'UNIT_UNKNOWN', payload: null });
    expect(r!.path).not.toBe('');
    expect(r!.message).not.toBe('');
  });

  it('does not let the message quote a payload it withholds (a JSON syntax error)', async () => {
    await publish(devices.get('AQ-NO')!, 'devices/AQ-NO/measurements', '{"serial": "AQ-NO", "value": 64.9876x}');
    const [r] = await rejectionsOf('AQ-NO');
    expect(r).toMatchObject({ code: 'PAYLOAD_NOT_JSON', payload: null });
    expect(r!.message).toMatch(/not JSON/);
    expect(r!.message).not.toContain('64.9876');
  });

  it('shows the payload of a device nobody was assigned to (device data)', async () => {
    const [r] = await rejectionsOf('AQ-FREE');
    expect(r!.payload).toContain('12.3456');
  });

  it('shows an admin the payload and the attribution', async () => {
    const [r] = (await rejectionsOf('AQ-NO', 'admin')).filter((x) => x.code === 'UNIT_UNKNOWN');
    expect(r).toMatchObject({ participantId: 'P-NO', trialId: 'fluid', siteId: 'ward', roomId: 'room-1' });
    expect(r!.payload).toContain('64.5432');
  });

  it('hides the payload again after withdrawal, also of messages from before it', async () => {
    expect((await hub.api(`/v1/consents/${consentId}/withdraw`, { body: {} })).status).toBe(200);
    const [r] = await rejectionsOf('AQ-YES');
    expect(r).toMatchObject({ code: 'UNIT_UNKNOWN', payload: null });
    expect((await rejectionsOf('AQ-YES', 'admin'))[0]!.payload).toContain('81.2345');
  });

  it('after erasure, nobody sees the payload or whose it was, and the rejection still counts', async () => {
    expect((await hub.api('/v1/participants/P-NO/data', { method: 'DELETE' })).status).toBe(200);
    const all = await rejectionsOf('AQ-NO', 'admin');
    expect(all.map((x) => x.code).sort()).toEqual(['PAYLOAD_NOT_JSON', 'UNIT_UNKNOWN']);
    for (const r of all) expect(r).toMatchObject({ payload: null, participantId: null, trialId: 'fluid' });
    expect((await rejectionsOf('AQ-NO')).every((x) => x.payload === null)).toBe(true);
    expect((await hub.api('/v1/devices/AQ-NO/rejections/summary', { token: vendor })).body).toMatchObject({
      total: 2,
      counts: { UNIT_UNKNOWN: 1, PAYLOAD_NOT_JSON: 1 },
    });
    // The others are untouched.
    expect((await rejectionsOf('AQ-FREE'))[0]!.payload).toContain('12.3456');
    expect((await rejectionsOf('AQ-YES', 'admin'))[0]!.payload).toContain('81.2345');
  });
});
