import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect, end, publish } from '../helpers/mqtt.js';
import { startHubWithUmask022, type HubProcess } from './hub-process.js';
import { asDouble, searchFolder } from '../helpers/file-search.js';

/**
 * A forensic test of erasure (promise 3) on the all-in-one hub as a process: devices
 * publish readings, events and rejections about P and Q, P gets an alarm with a comment
 * and a fluid-balance target that a clinician then changes (the first one lives on only in
 * the target history), a researcher exports the dataset; then P is erased through the API and every byte of
 * every file in the data folder (databases, WAL, journal, cursor, spill folder) is
 * searched for P's id, P's pseudonym and P's values, as text and as stored doubles.
 */
const P = 'PSEUDO-P-4711x';
const Q = 'PSEUDO-Q-0815y';
const P_WEIGHT = 73.9137;
const P_REJECTED = 91.7731;
const Q_WEIGHT = 68.4421;
const Q_REJECTED = 59.3317;
const COMMENT = 'P slipped near the zeta window';
const P_FIRST_TARGET_ML = 1733.77;
const HOUR = 3_600_000;

let hub: HubProcess;
const clients: MqttClient[] = [];
let researcher: string;
let pPseudonym: string;
const backup = mkdtempSync(join(tmpdir(), 'arena-backup-'));
let qPseudonym: string;

const ok = async (path: string, body: unknown, status = 201, token?: string) => {
  const res = await hub.api(path, { body, ...(token ? { token } : {}) });
  expect(res.status, `${path}: ${res.text}`).toBe(status);
  return res.body;
};

/** Polls until `check` passes. */
async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`never happened: ${what}`);
}

beforeAll(async () => {
  hub = await startHubWithUmask022();
  const start = Date.now() - HOUR;
  await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 2 });
  await ok('/v1/vendors', { id: 'aqua', name: 'AquaScale' });
  await ok('/v1/vendors', { id: 'rs', name: 'RoomSense' });
  await ok('/v1/trials', {
    id: 'fluid',
    name: 'Fluid balance',
    siteId: 'ward',
    vendorIds: ['aqua', 'rs'],
    protocolRef: 'REK 2025/1',
    period: { from: start, to: start + 24 * HOUR },
  });
  for (const [who, bed] of [
    [P, 1],
    [Q, 2],
  ] as const) {
    await ok('/v1/trials/fluid/participants', { id: who });
    for (const scope of ['research', 'vendor.telemetry', 'care.live'])
      await ok(`/v1/participants/${who}/consents`, { scope, grantedAt: start, formVersion: 'v1' });
    const tag = who === P ? 'P' : 'Q';
    for (const [id, vendorId, profileId] of [
      [`AQ-${tag}`, 'aqua', 'aquascale'],
      [`RS-${tag}`, 'rs', 'roomsense-3d'],
    ] as const) {
      const created = await ok('/v1/devices', { id, vendorId, profileId, roomId: 'room-1' });
      await ok('/v1/trials/fluid/assignments', { deviceId: id, participantId: who, roomId: 'room-1', bed, from: start });
      clients.push(await connect(hub.ports.mqtt, id, created.secret));
    }
  }
  researcher = (await ok('/v1/tokens', { role: 'researcher', trialIds: ['fluid'], label: 'study' })).token;

  const [aqP, rsP, aqQ, rsQ] = clients as [MqttClient, MqttClient, MqttClient, MqttClient];
  const weigh = (c: MqttClient, id: string, value: number, unit = 'kg') =>
    publish(c, `devices/${id}/measurements`, JSON.stringify({ serial: id, measured_at: new Date().toISOString(), kind: 'weight', value, unit }));
  const fall = (c: MqttClient, id: string) =>
    publish(
      c,
      `devices/${id}/events`,
      JSON.stringify({ sensor: id, time: Date.now(), event: { type: 'FALL_DETECTED', zone: 'floor-bedside', confidence: 0.97 } }),
    );
  await weigh(aqP, 'AQ-P', P_WEIGHT);
  await weigh(aqP, 'AQ-P', P_REJECTED, 'stone');
  await fall(rsP, 'RS-P');
  await weigh(aqQ, 'AQ-Q', Q_WEIGHT);
  await weigh(aqQ, 'AQ-Q', Q_REJECTED, 'stone');
  await fall(rsQ, 'RS-Q');

  // The fall alarm of P, acknowledged with a comment.
  let alarmId = '';
  await eventually(async () => {
    const alarms = (await hub.api('/v1/alarms')).body.items as { id: string; participantId: string | null }[];
    alarmId = alarms.find((a) => a.participantId === P)?.id ?? '';
    return alarmId !== '' && alarms.some((a) => a.participantId === Q);
  }, 'both fall alarms');
  expect((await hub.api(`/v1/alarms/${alarmId}/ack`, { body: { comment: COMMENT } })).status).toBe(200);
  for (const maxNetGainMl of [P_FIRST_TARGET_ML, 1500]) {
    const put = await hub.api(`/v1/alarm-settings/${P}`, { method: 'PUT', body: { siteId: 'ward', fluid: { windowH: 24, maxNetGainMl } } });
    expect(put.status, put.text).toBe(200);
  }

  // A research export: the pseudonyms P and Q have in it.
  const csv = await hub.api('/v1/trials/fluid/dataset?format=csv', { token: researcher });
  expect(csv.status, csv.text).toBe(200);
  const [header, ...rows] = csv.text
    .trim()
    .split('\n')
    .map((l) => l.split(','));
  const col = (name: string) => header!.indexOf(name);
  const pseudonymOf = (value: number) => rows.find((r) => Number(r[col('value')]) === value)?.[col('pseudonym')] ?? '';
  pPseudonym = pseudonymOf(P_WEIGHT);
  qPseudonym = pseudonymOf(Q_WEIGHT);
  expect(pPseudonym).toMatch(/^[0-9a-f]{8,}$/);
  expect(qPseudonym).toMatch(/^[0-9a-f]{8,}$/);

  for (const c of clients.splice(0)) await end(c); // nothing more to publish
  // A graceful restart checkpoints everything into telemetry.duckdb itself: erasure must
  // then reach rows in the file's blocks, not only in its WAL. The copy taken meanwhile
  // is the "older backup" restored below.
  await hub.restart(() => cpSync(hub.dataDir, backup, { recursive: true }));

  // The search can see P before the erasure (a compressed column would hide values from it
  // before as after, and the test below would pass for nothing).
  expect(search(careNeedlesOf(P, pPseudonym, P_WEIGHT, P_REJECTED))).toEqual(
    expect.arrayContaining([
      'telemetry.duckdb: id',
      'telemetry.duckdb: weight as double',
      'telemetry.duckdb: rejected value as text',
      'registry.duckdb: comment',
      'registry.duckdb: first fluid target',
    ]),
  );
  const erased = await hub.api(`/v1/participants/${P}/data`, { method: 'DELETE' });
  expect(erased.status, erased.text).toBe(200);
  expect(erased.body.erasedPoints).toBeGreaterThan(0);
}, 120_000);

afterAll(async () => {
  for (const c of clients) await end(c);
  await hub?.dispose();
  rmSync(backup, { recursive: true, force: true });
});

/** Where each needle occurs in the data folder: "file: needle". */
const search = (needles: Record<string, Buffer>): string[] => searchFolder(hub.dataDir, needles);

const needlesOf = (id: string, pseudonym: string, weight: number, rejected: number): Record<string, Buffer> => ({
  id: Buffer.from(id),
  pseudonym: Buffer.from(pseudonym),
  'weight as text': Buffer.from(String(weight)),
  'weight as double': asDouble(weight),
  'rejected value as text': Buffer.from(String(rejected)),
});

/** And what the ward wrote about P: the acknowledgement's comment, the first fluid target. */
const careNeedlesOf = (...args: Parameters<typeof needlesOf>): Record<string, Buffer> => ({
  ...needlesOf(...args),
  comment: Buffer.from(COMMENT),
  'first fluid target': Buffer.from(String(P_FIRST_TARGET_ML)),
});

/**
 * Where P is still found. What stays in the registry (registry.duckdb) is named in README
 * "Privacy and security": the participant's record, consents and assignments, and the
 * audit entries of the requests that named them (which keep the fields of a care write,
 * never its values: the acknowledgement's comment is not among them); anything else found
 * is a leak.
 */
function tracesOfP(): string[] {
  const found = search(careNeedlesOf(P, pPseudonym, P_WEIGHT, P_REJECTED));
  return found.filter((f) => !/^registry\.duckdb(\.wal)?: id$/.test(f));
}

describe('erasure, searched for byte by byte', () => {
  it("leaves no trace of P's values, pseudonym or comment in any file of the data folder, and P's id only in the registry", () => {
    expect(tracesOfP()).toEqual([]);
  });

  it("finds Q's id in the telemetry file with the same search, and all of Q's data through the API", async () => {
    expect(search({ id: Buffer.from(Q) })).toContain('telemetry.duckdb: id');
    const readings = (await hub.api('/v1/devices/AQ-Q/readings')).body.items as { value: number; participantId: string }[];
    expect(readings).toEqual([expect.objectContaining({ value: Q_WEIGHT, participantId: Q })]);
    const rejections = (await hub.api('/v1/devices/AQ-Q/rejections')).body.items as { payload: string; participantId: string }[];
    expect(rejections).toEqual([expect.objectContaining({ participantId: Q, payload: expect.stringContaining(String(Q_REJECTED)) })]);
    const events = (await hub.api('/v1/devices/RS-Q/events')).body.items as { name: string }[];
    expect(events.map((e) => e.name)).toEqual(['fall']);
    const alarms = (await hub.api('/v1/alarms')).body.items as { participantId: string | null }[];
    expect(alarms.map((a) => a.participantId)).toEqual([Q]);
  });

  it('shows nothing of P through the API any more', async () => {
    expect((await hub.api('/v1/devices/AQ-P/readings')).body.items).toEqual([]);
    expect((await hub.api('/v1/devices/RS-P/events')).body.items).toEqual([]);
    const [rejection] = (await hub.api('/v1/devices/AQ-P/rejections')).body.items;
    expect(rejection).toMatchObject({ code: 'UNIT_UNKNOWN', payload: null, participantId: null });
    const csv = await hub.api('/v1/trials/fluid/dataset?format=csv', { token: researcher });
    expect(csv.text).not.toContain(pPseudonym);
    expect(csv.text).toContain(qPseudonym);
  });

  it('erases P again when the hub starts on a backup taken before the erasure (the erasure register is kept)', async () => {
    expect(search({ 'erasure register entry': Buffer.from(P) }).filter((f) => f.startsWith('erasure-register'))).toEqual([]);
    await hub.restart(() => {
      for (const name of readdirSync(hub.dataDir)) if (name !== 'erasure-register.ndjson') rmSync(join(hub.dataDir, name), { recursive: true, force: true });
      cpSync(backup, hub.dataDir, { recursive: true });
      // The backup still holds everything of P.
      expect(search(needlesOf(P, pPseudonym, P_WEIGHT, P_REJECTED))).toContain('telemetry.duckdb: id');
    });
    expect(tracesOfP()).toEqual([]);
    expect((await hub.api('/v1/devices/AQ-P/readings')).body.items).toEqual([]);
    expect((await hub.api('/v1/devices/AQ-Q/readings')).body.items).toEqual([expect.objectContaining({ value: Q_WEIGHT, participantId: Q })]);
  });
});
