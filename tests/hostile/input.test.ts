import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';

/**
 * Promise 5 against the whole hub: bad input of each kind gets a clear error or a
 * disconnect, a rejection record the vendor can read when the device is known, and
 * harms nothing else. After every case a bystander device of the same vendor publishes
 * and its reading must be stored, and the broker must still be up.
 */

const PAYLOAD_LIMIT = 4096;
let hub: TestHub;
let vendorToken: string;
let otherVendorToken: string;
const secrets = new Map<string, string>();
const clients: MqttClient[] = [];

const ATTACKER = 'AQ-H1';
const BYSTANDER = 'AQ-H2';
const SENML = 'MM-H1';
const topicOf = (id: string): string => (id === SENML ? `devices/${id}/senml` : `devices/${id}/measurements`);
const weight = (id: string, fields: Record<string, unknown> = {}): string =>
  JSON.stringify({ serial: id, measured_at: new Date(Date.now() - 60_000).toISOString(), kind: 'weight', value: 70_000, unit: 'g', ...fields });

beforeAll(async () => {
  hub = await startTestHub({ MQTT_MAX_PAYLOAD_BYTES: String(PAYLOAD_LIMIT), MQTT_MAX_PACKET_BYTES: String(4 * PAYLOAD_LIMIT) });
  for (const v of ['hostile-vendor', 'other-vendor']) expect((await hub.api('/v1/vendors', { body: { id: v, name: v } })).status).toBe(201);
  for (const [id, profileId] of [
    [ATTACKER, 'aquascale'],
    [BYSTANDER, 'aquascale'],
    [SENML, 'medimate-senml'],
  ] as const) {
    const created = await hub.api('/v1/devices', { body: { id, vendorId: 'hostile-vendor', profileId } });
    expect(created.status).toBe(201);
    secrets.set(id, created.body.secret);
  }
  vendorToken = (await hub.api('/v1/tokens', { body: { role: 'vendor', vendorId: 'hostile-vendor', label: 'vendor' } })).body.token;
  otherVendorToken = (await hub.api('/v1/tokens', { body: { role: 'vendor', vendorId: 'other-vendor', label: 'other' } })).body.token;
});
afterAll(async () => {
  await Promise.all(clients.splice(0).map(end));
  await hub?.dispose();
});

async function device(id: string): Promise<MqttClient> {
  const c = await connect(hub.mqttPort, id, secrets.get(id)!);
  clients.push(c);
  c.on('error', () => undefined);
  return c;
}

let bystanderGrams = 60_000;
/** The bystander publishes a new reading, gets its PUBACK, and the reading is stored. */
async function bystanderUnharmed(): Promise<void> {
  const grams = ++bystanderGrams;
  const c = await device(BYSTANDER);
  await publish(c, topicOf(BYSTANDER), weight(BYSTANDER, { value: grams }));
  await end(c);
  const readings = (await hub.api(`/v1/devices/${BYSTANDER}/readings?limit=1000`)).body.items as { value: number }[];
  expect(readings.some((r) => Math.abs(r.value - grams / 1000) < 1e-9)).toBe(true);
  expect((await hub.api(`/v1/devices/${BYSTANDER}/rejections`)).body.items).toEqual([]);
}

/** The newest rejection of a device as its vendor sees it. */
async function lastRejection(id: string): Promise<{ code: string; path: string; message: string; payload: string; topic: string }> {
  const items = (await hub.api(`/v1/devices/${id}/rejections?limit=1`, { token: vendorToken })).body.items;
  expect(items).toHaveLength(1);
  return items[0];
}

const closed = (c: MqttClient): Promise<void> => new Promise((r) => (c.connected ? c.once('close', () => r()) : r()));

describe('hostile payloads from a known device become rejections, and the device stays connected', () => {
  const cases: [string, string, string | Buffer, { code: string; path?: string; payload?: string | RegExp }][] = [
    ['invalid JSON', ATTACKER, '{"serial": "AQ-H1", "value": ', { code: 'PAYLOAD_NOT_JSON', payload: '{"serial": "AQ-H1", "value": ' }],
    ['a JSON value that is not an object', ATTACKER, '[1, 2, 3]', { code: 'SCHEMA_VIOLATION' }],
    ['a wrong type', ATTACKER, weight(ATTACKER, { value: 'heavy' }), { code: 'SCHEMA_VIOLATION', path: 'value' }],
    ['a missing field', ATTACKER, JSON.stringify({ serial: ATTACKER, kind: 'weight', value: 1, unit: 'g' }), { code: 'SCHEMA_VIOLATION' }],
    ['an unknown unit', ATTACKER, weight(ATTACKER, { unit: 'stone' }), { code: 'UNIT_UNKNOWN', path: 'unit' }],
    ['a time far in the past', ATTACKER, weight(ATTACKER, { measured_at: '1990-01-01T00:00:00Z' }), { code: 'TIME_OUT_OF_RANGE' }],
    [
      'a time far in the future',
      ATTACKER,
      weight(ATTACKER, { measured_at: new Date(Date.now() + 365 * 86_400_000).toISOString() }),
      { code: 'TIME_OUT_OF_RANGE' },
    ],
    ['a time that is no time', ATTACKER, weight(ATTACKER, { measured_at: 'yesterday' }), { code: 'TIME_INVALID' }],
    ['another serial in the payload than the device that sent it', ATTACKER, weight(BYSTANDER), { code: 'DEVICE_MISMATCH' }],
    ['bytes that are not UTF-8', ATTACKER, Buffer.from([0xff, 0xfe, 0x00, 0x7b]), { code: 'PAYLOAD_NOT_JSON', payload: /^base64:/ }],
    ['invalid SenML (not an array of records)', SENML, JSON.stringify({ bn: 'urn:dev:ser:MM-H1:', n: 'stock', v: 3 }), { code: 'SENML_INVALID' }],
    [
      'SenML with a wrong type',
      SENML,
      JSON.stringify([{ bn: 'urn:dev:ser:MM-H1:', bt: Date.now() / 1000, n: 'stock', v: 'eleven' }]),
      { code: 'SENML_INVALID' },
    ],
    [`a payload over ${PAYLOAD_LIMIT} bytes`, ATTACKER, Buffer.alloc(PAYLOAD_LIMIT + 1, 0x20), { code: 'PAYLOAD_TOO_LARGE' }],
  ];
  for (const [name, id, payload, expected] of cases) {
    it(name, async () => {
      const c = await device(id);
      await publish(c, topicOf(id), payload); // PUBACK: the rejection is committed, not resent forever
      expect(c.connected).toBe(true);
      await end(c);
      const r = await lastRejection(id);
      expect(r.code).toBe(expected.code);
      if (expected.path !== undefined) expect(r.path).toBe(expected.path);
      if (expected.payload !== undefined)
        expect(r.payload).toMatch(
          typeof expected.payload === 'string' ? new RegExp(`^${expected.payload.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : expected.payload,
        );
      expect(r.message.length).toBeGreaterThan(0);
      await bystanderUnharmed();
    });
  }
});

describe('hostile behaviour at the MQTT level', () => {
  it('a packet over the frame limit: disconnected before it is read', async () => {
    const c = await device(ATTACKER);
    c.publish(topicOf(ATTACKER), Buffer.alloc(4 * PAYLOAD_LIMIT + 1, 0x20), { qos: 1 });
    await closed(c);
    await bystanderUnharmed();
  });

  it('topic spoofing: disconnected, recorded as TOPIC_NOT_ALLOWED for the spoofer, nothing stored for the victim', async () => {
    const c = await device(ATTACKER);
    const forged = weight(BYSTANDER, { value: 99_999 });
    c.publish(topicOf(BYSTANDER), forged, { qos: 1 });
    await closed(c);
    const r = await lastRejection(ATTACKER);
    expect(r).toMatchObject({ code: 'TOPIC_NOT_ALLOWED', topic: topicOf(BYSTANDER), payload: forged });
    const readings = (await hub.api(`/v1/devices/${BYSTANDER}/readings?limit=1000`)).body.items as { value: number }[];
    expect(readings.some((x) => x.value === 99.999)).toBe(false);
    await bystanderUnharmed();
  });

  it("wildcard subscriptions to other devices' data: SUBACK 0x80 for each, and nothing arrives", async () => {
    const c = await device(ATTACKER);
    const heard: string[] = [];
    c.on('message', (t) => heard.push(t));
    const filters = ['#', 'devices/#', 'devices/+/measurements', `devices/${BYSTANDER}/#`, `devices/${BYSTANDER}/measurements`, '$SYS/#', '+/+/+'];
    const granted = await c.subscribeAsync(filters, { qos: 1 }).catch((e: { packet?: { granted: number[] } }) => e.packet?.granted);
    expect((granted as (number | { qos: number })[]).map((g) => (typeof g === 'number' ? g : g.qos))).toEqual(filters.map(() => 128));
    await bystanderUnharmed();
    await end(c);
    expect(heard).toEqual([]);
  });

  it('an unknown device and a wrong secret: CONNACK 4, no rejection record for anyone', async () => {
    await expect(connect(hub.mqttPort, 'NO-SUCH-1', 'whatever')).rejects.toMatchObject({ code: 4 });
    await expect(connect(hub.mqttPort, BYSTANDER, 'not-its-secret')).rejects.toMatchObject({ code: 4 });
    await bystanderUnharmed();
  });
});

describe('the vendor sees its rejections', () => {
  it('across its devices with reason, path and raw payload, counted per reason; another vendor sees none', async () => {
    const mine = (await hub.api('/v1/rejections?limit=1000', { token: vendorToken })).body.items as { deviceId: string; code: string }[];
    expect(new Set(mine.map((r) => r.deviceId))).toEqual(new Set([ATTACKER, SENML]));
    const summary = (await hub.api('/v1/rejections/summary', { token: vendorToken })).body;
    expect(summary.total).toBe(mine.length);
    expect(summary.counts).toMatchObject({
      PAYLOAD_NOT_JSON: 2,
      SCHEMA_VIOLATION: 3,
      UNIT_UNKNOWN: 1,
      TIME_OUT_OF_RANGE: 2,
      SENML_INVALID: 2,
      PAYLOAD_TOO_LARGE: 1,
      TOPIC_NOT_ALLOWED: 1,
    });
    expect((await hub.api('/v1/rejections', { token: otherVendorToken })).body.items).toEqual([]);
    expect((await hub.api(`/v1/devices/${ATTACKER}/rejections`, { token: otherVendorToken })).status).toBe(404);
  });
});
