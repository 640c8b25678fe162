import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../helpers/datasets.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { adminPost, fluidTrial, HOUR } from '../helpers/trial.js';

// A backup of a running all-in-one hub taken with `backup-cli.js backup` while a device
// publishes at QoS 1, restored with `backup-cli.js restore` into an empty folder and
// started as a second hub: everything acknowledged before the backup was asked for is
// there, and so are the registry, the audit chain, the admin token and the pseudonyms.

const run = promisify(execFile);
const CLI = 'dist/hub/backup-cli.js';
const start = Date.now() - HOUR;
let hub: TestHub;
let restored: TestHub | undefined;
let device: MqttClient;
let researcher: string;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'arena-backup-'));
  hub = await startTestHub();
  const trial = await fluidTrial(hub, { start, devices: [{ id: 'AQ-B1', profileId: 'aquascale' }], participants: ['P-1', 'P-2'] });
  researcher = trial.researcher;
  await adminPost(hub)('/v1/trials/fluid/assignments', { deviceId: 'AQ-B1', participantId: 'P-1', roomId: 'room-1', bed: 1, from: start });
  device = await connect(hub.mqttPort, 'AQ-B1', trial.secrets.get('AQ-B1')!);
});
afterAll(async () => {
  await end(device);
  await restored?.dispose();
  await hub?.dispose();
  rmSync(work, { recursive: true, force: true });
});

const grams = (i: number): number => 60_000 + i;
const kg = (r: { value: number }): number => Math.round(r.value * 1000);
const readings = async (h: TestHub): Promise<number[]> =>
  ((await h.api('/v1/devices/AQ-B1/readings?name=body_weight&limit=10000')).body.items as { value: number }[]).map(kg).sort((a, b) => a - b);
const counts = async (h: TestHub) => ({
  sites: (await h.api('/v1/sites')).body.items.length,
  devices: (await h.api('/v1/devices')).body.items.length,
  participants: (await h.api('/v1/trials/fluid/participants')).body.items.length,
});
const dataset = async (h: TestHub): Promise<Map<number, string>> => {
  const res = await h.api('/v1/trials/fluid/dataset?format=csv', { token: researcher });
  expect(res.status).toBe(200);
  return new Map(parseCsv(res.body).map((r) => [Math.round(Number(r.value) * 1000), String(r.pseudonym)]));
};

describe('backup and restore', () => {
  it('restores a backup taken under load with everything acknowledged before it, the registry, the audit chain and the pseudonyms', {
    timeout: 120_000,
  }, async () => {
    const acked: number[] = [];
    let publishing = true;
    const publisher = (async () => {
      for (let i = 0; publishing; i++) {
        await publish(
          device,
          'devices/AQ-B1/measurements',
          JSON.stringify({ serial: 'AQ-B1', measured_at: new Date().toISOString(), kind: 'weight', value: grams(i), unit: 'g' }),
        );
        acked.push(grams(i));
      }
    })();

    await until('50 acknowledged messages', () => acked.length >= 50);
    const ackedBeforeBackup = [...acked];
    const file = join(work, 'hub.backup');
    const backup = await run('node', [CLI, 'backup', '--out', file, '--data-dir', hub.dataDir]);
    expect(backup.stdout).toMatch(/^backup of .* written to .*hub\.backup: \d+ files, \d+ bytes, cut at /);
    const atBackup = acked.length;
    await until('more messages acknowledged after the backup', () => acked.length >= atBackup + 20);
    publishing = false;
    await publisher;
    expect(statSync(file).mode & 0o077).toBe(0);

    // Never over existing data.
    const occupied = join(work, 'occupied');
    mkdirSync(occupied);
    writeFileSync(join(occupied, 'registry.duckdb'), 'not mine');
    await expect(run('node', [CLI, 'restore', '--from', file, '--data-dir', occupied])).rejects.toMatchObject({
      stderr: expect.stringMatching(/is not empty: restore into an empty or new data folder/),
    });

    const target = join(work, 'restored');
    await run('node', [CLI, 'restore', '--from', file, '--data-dir', target]);
    expect(readdirSync(target)).toEqual(
      expect.arrayContaining(['telemetry.duckdb', 'registry.duckdb', 'pseudonym.key', 'audit.key', 'admin-token', 'journal']),
    );
    restored = await startTestHub({ ARENA_DATA_DIR: target });

    // The admin bootstrap state came back: the same token, no new one issued.
    expect(restored.adminToken).toBe(hub.adminToken);
    expect(await counts(restored)).toEqual(await counts(hub));
    expect(await counts(restored)).toEqual({ sites: 1, devices: 1, participants: 2 });

    const original = await readings(hub);
    const back = await readings(restored);
    expect(original).toEqual(acked.slice().sort((a, b) => a - b));
    // Nothing acknowledged before the backup was asked for is lost; nothing is invented.
    expect(back.filter((v) => ackedBeforeBackup.includes(v))).toEqual(ackedBeforeBackup);
    expect(back.every((v) => original.includes(v))).toBe(true);
    expect(back.length).toBeLessThan(original.length);

    const verdict = (await restored.api('/v1/audit/verify')).body;
    expect(verdict).toMatchObject({ ok: true });
    expect(verdict.entries).toBeGreaterThan(5);

    // The pseudonym key came back: the researcher sees the same pseudonyms as before.
    const before = await dataset(hub);
    const after = await dataset(restored);
    expect(after.size).toBe(back.length);
    for (const [value, pseudonym] of after) expect(pseudonym, `pseudonym of ${value}`).toBe(before.get(value));
    expect(new Set(after.values()).size).toBe(1);
  });
});
