import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import { onHangup } from '../../service/catalogue-reload.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';

/**
 * A catalogue change without a restart: the arena's files are read again on SIGHUP (or
 * hub.reloadCatalogue()), every published profile is recompiled against them, and a bad
 * file keeps the catalogue in force, saying why.
 */
const BAG = (range: string) => `measurements:
  bag_volume:
    unit: mL
    type: integer
    range: ${range}
    label: { en: Urine bag volume, nb: Volum i urinposen }
`;
const BAG_FULL = `events:
  bag_full:
    label: { en: Urine bag full, nb: Urinposen er full }
    alert: "5"
    severity: 20
`;
const PROFILE = `id: bagsense
version: 1.0.0
family: fluid-balance
vendor: BagSense
model: BS-1
topics: ["devices/{deviceId}/bag"]
format: json
expectedIntervalS: 600
time: { path: ts, format: epoch_s }
payload: { type: object }
readings:
  - { measurement: bag_volume, value: ml, unit: mL }
`;
const WITH_EVENT = `${PROFILE.replace('version: 1.0.0', 'version: 1.1.0')}events:
  - from: alert
    absent: ignore
    map: { FULL: { event: bag_full } }
`;

let hub: TestHub;
let dir: string;
const names = async (section: 'measurements' | 'events') => ((await hub.api('/v1/catalogue')).body[section] as { name: string }[]).map((e) => e.name);
const decodeVolume = (ml: number) =>
  hub.profiles.get('bagsense')!.decode({
    messageId: 1n,
    deviceId: 'BS-1',
    topic: 'devices/BS-1/bag',
    payload: Buffer.from(JSON.stringify({ ts: Math.floor(Date.now() / 1000), ml })),
    receivedAt: Date.now(),
    attribution: { siteId: null, roomId: null, trialId: null, participantId: null },
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arena-catalogue-reload-'));
  writeFileSync(join(dir, 'bag.yaml'), BAG('[0, 2000]'));
  hub = await startTestHub({ ARENA_CATALOGUE_DIR: dir });
  expect((await hub.api('/v1/profiles', { body: { yaml: PROFILE } })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await hub?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the catalogue changes without a restart', () => {
  it('an added event and a changed range are in force after the reload: served, checked and decoded against', async () => {
    expect(await names('events')).not.toContain('bag_full');
    expect((await hub.api('/v1/profiles/validate', { body: { yaml: WITH_EVENT } })).status).toBe(422);
    expect(decodeVolume(2500).problems.map((p) => p.code)).toEqual(['VALUE_OUT_OF_RANGE']);

    writeFileSync(join(dir, 'bag.yaml'), BAG('[0, 3000]'));
    writeFileSync(join(dir, 'events.yaml'), BAG_FULL);
    expect(await hub.reloadCatalogue()).toEqual([]);

    expect(await names('events')).toContain('bag_full');
    expect((await hub.api('/v1/profiles/validate', { body: { yaml: WITH_EVENT } })).status).toBe(200);
    expect(decodeVolume(2500).problems).toEqual([]);
    expect(hub.profiles.catalogue.events.get('bag_full')).toMatchObject({ alert: '5', alarm: true });
  });

  it('a bad file keeps the catalogue in force and says which file, where and why', async () => {
    writeFileSync(join(dir, 'broken.yaml'), 'measurements:\n  bag_weight:\n    unit: stone\n    label: { en: Bag weight, nb: Posevekt }\n');
    const problems = await hub.reloadCatalogue();
    expect(problems.join('\n')).toMatch(/broken\.yaml: measurements\.bag_weight\.unit: "stone" is not a UCUM unit/);
    expect(await names('events')).toContain('bag_full');
    expect(await names('measurements')).not.toContain('bag_weight');
    expect(decodeVolume(2500).problems).toEqual([]);
    rmSync(join(dir, 'broken.yaml'));
  });

  it('a catalogue that a published profile no longer compiles against is refused, naming the profile', async () => {
    expect((await hub.api('/v1/profiles', { body: { yaml: WITH_EVENT } })).status).toBe(201);
    rmSync(join(dir, 'events.yaml'));
    const problems = await hub.reloadCatalogue();
    expect(problems).toEqual([expect.stringMatching(/^profile bagsense 1\.1\.0: events\[0\]\.map\.FULL\.event: "bag_full" is not an event of the catalogue/)]);
    expect(await names('events')).toContain('bag_full');
    writeFileSync(join(dir, 'events.yaml'), BAG_FULL);
  });

  it('SIGHUP reloads it', async () => {
    writeFileSync(join(dir, 'events.yaml'), BAG_FULL.replace('severity: 20', 'severity: 30'));
    const listener = onHangup(() => hub.reloadCatalogue(), createLogger('silent'));
    try {
      process.kill(process.pid, 'SIGHUP');
      await expect.poll(() => hub.profiles.catalogue.events.get('bag_full')?.severity, { timeout: 10_000 }).toBe(30);
    } finally {
      listener.stop();
    }
  });
});
