import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keepFilesPrivate } from '../../service/private-files.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { modesUnder, startHubWithUmask022, type HubProcess } from './hub-process.js';

/** The data folder and every file the hub makes are its user's alone, whatever the umask. */
let hub: HubProcess;
let device: MqttClient;

beforeAll(async () => {
  hub = await startHubWithUmask022();
  const ok = async (path: string, body: unknown) => {
    const res = await hub.api(path, { body });
    expect(res.status, `${path}: ${res.text}`).toBe(201);
    return res.body;
  };
  await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 1 });
  await ok('/v1/vendors', { id: 'aqua', name: 'AquaScale' });
  const created = await ok('/v1/devices', { id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
  device = await connect(hub.ports.mqtt, 'AQ-1', created.secret);
  const at = new Date().toISOString();
  await publish(device, 'devices/AQ-1/measurements', JSON.stringify({ serial: 'AQ-1', measured_at: at, kind: 'weight', value: 70.5, unit: 'kg' }));
  await publish(device, 'devices/AQ-1/measurements', JSON.stringify({ serial: 'AQ-1', measured_at: at, kind: 'weight', value: 70.5, unit: 'stone' }));
  expect((await hub.api('/v1/devices/AQ-1/readings')).body.items).toHaveLength(1);
});
afterAll(async () => {
  await end(device);
  await hub?.dispose();
});

const loose = (entries: ReturnType<typeof modesUnder>) =>
  entries.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600)).map((e) => `${e.path} ${e.mode.toString(8)}`);

describe('file modes under umask 022', () => {
  it('while running: data folder 0700, DuckDB files, WAL, journal, cursor and keys 0600', () => {
    const entries = modesUnder(hub.dataDir);
    const names = entries.map((e) => e.path.slice(hub.dataDir.length + 1));
    for (const expected of ['telemetry.duckdb', 'registry.duckdb', 'journal', 'admin-token', 'pseudonym.key']) expect(names).toContain(expected);
    expect(names.some((n) => n.startsWith('journal/segment-'))).toBe(true);
    expect(loose(entries)).toEqual([]);
  });

  it('after a graceful stop, still nothing readable by others', async () => {
    expect(await hub.service.stop()).toBe(0);
    expect(loose(modesUnder(hub.dataDir))).toEqual([]);
  });
});

describe('keepFilesPrivate', () => {
  it('tightens what an earlier run left readable to others', () => {
    const dir = mkdtempSync(join(tmpdir(), 'arena-modes-'));
    try {
      mkdirSync(join(dir, 'journal'), { mode: 0o755 });
      writeFileSync(join(dir, 'journal', 'segment-000000000001.ndjson'), '{}\n', { mode: 0o644 });
      chmodSync(dir, 0o755);
      const before = process.umask();
      keepFilesPrivate(dir);
      const after = process.umask(before);
      expect(after).toBe(0o077);
      expect(loose(modesUnder(dir))).toEqual([]);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
