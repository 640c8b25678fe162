import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNdjson } from '../helpers/datasets.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { BROKEN, drink, flowpatch } from './flowpatch.js';
import { until } from '../helpers/poll.js';

/**
 * Profiles published to the RUNNING all-in-one hub through the API: checked with every
 * problem at once, in force for the broker and ingest without a restart, each stored
 * point naming the version that decoded it, a pinned device staying on its version.
 */

const HOUR = 3_600_000;
let hub: TestHub;
let vendorToken: string;
let researcherToken: string;
let clinicianToken: string;
const secrets = new Map<string, string>();

beforeAll(async () => {
  hub = await startTestHub();
  const now = Date.now();
  const ok = async (path: string, body: unknown, method = 'POST') => {
    const res = await hub.api(path, { method, body });
    expect(res.status, `${method} ${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  };
  await ok('/v1/sites', { id: 'flat', name: 'Demo flat', kind: 'demo-flat' });
  await ok('/v1/vendors', { id: 'flowpatch-co', name: 'FlowPatch' });
  await ok('/v1/trials', {
    id: 'fluid-t',
    name: 'Fluid trial',
    siteId: 'flat',
    vendorIds: ['flowpatch-co'],
    protocolRef: 'REK 2026/1',
    period: { from: now - 24 * HOUR, to: now + 24 * HOUR },
  });
  await ok('/v1/trials/fluid-t/participants', { id: 'p-1' });
  await ok('/v1/participants/p-1/consents', { scope: 'research', grantedAt: now - HOUR, formVersion: 'v1' });
  vendorToken = (await ok('/v1/tokens', { role: 'vendor', vendorId: 'flowpatch-co', label: 'vendor' })).token;
  researcherToken = (await ok('/v1/tokens', { role: 'researcher', trialIds: ['fluid-t'], label: 'researcher' })).token;
  clinicianToken = (await ok('/v1/tokens', { role: 'clinician', siteIds: ['flat'], label: 'clinician' })).token;
}, 60_000);
afterAll(async () => {
  await hub?.dispose();
});

/** Polls until `probe` answers something; fails naming `what` after ms. */

/** Publishes one drink at QoS 1 as the device (PUBACK comes after the commit) and answers the reading stored for it. */
async function sendDrink(
  deviceId: string,
  volume: number,
  topic = `arena/${deviceId}/flow`,
): Promise<{ value: number; unit: string; profileVersion?: string; messageId: string }> {
  const c = await connect(hub.mqttPort, deviceId, secrets.get(deviceId)!);
  const payload = drink(deviceId, volume);
  try {
    await publish(c, topic, payload);
  } finally {
    await end(c);
  }
  const seen = new Set<string>();
  return until(`a reading of ${deviceId} for ${payload}`, async () => {
    const items = (await hub.api(`/v1/devices/${deviceId}/readings?limit=100`)).body.items as {
      messageId: string;
      value: number;
      unit: string;
      profileVersion?: string;
    }[];
    // The newest reading the device did not have before this message.
    const fresh = items.filter((r) => !seen.has(r.messageId) && !readingsBefore.get(deviceId)?.has(r.messageId));
    return fresh[0];
  }).finally(async () => {
    const items = (await hub.api(`/v1/devices/${deviceId}/readings?limit=100`)).body.items as { messageId: string }[];
    readingsBefore.set(deviceId, new Set(items.map((r) => r.messageId)));
  });
}
const readingsBefore = new Map<string, Set<string>>();

async function registerDevice(id: string): Promise<void> {
  const res = await hub.api('/v1/devices', { body: { id, vendorId: 'flowpatch-co', profileId: 'flowpatch', siteId: 'flat' } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  secrets.set(id, res.body.secret);
}

describe('publishing a device profile to a running hub', () => {
  it('refuses an invalid profile with every problem and its path, as problem+json with a stable code, and stores nothing', async () => {
    for (const path of ['/v1/profiles/validate', '/v1/profiles']) {
      const res = await hub.api(path, { body: { yaml: BROKEN } });
      expect(res.status).toBe(422);
      expect(res.type).toMatch(/^application\/problem\+json/);
      expect(res.body).toMatchObject({ code: 'PROFILE_INVALID', status: 422, type: 'urn:arena-hub:problem:profile-invalid' });
      expect(res.body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['family', 'readings[0].measurement', 'time', 'version']);
    }
    const syntax = await hub.api('/v1/profiles', { body: { yaml: 'id: [flowpatch\n' } });
    expect(syntax.status).toBe(422);
    expect(syntax.body.issues[0].message).toMatch(/line \d+/);
    expect((await hub.api('/v1/profiles/flowpatch')).status).toBe(404);
    expect((await hub.api('/v1/profiles/flowpatch/versions')).status).toBe(404);
  });

  it('lets only admin validate, publish and pin', async () => {
    for (const token of [vendorToken, researcherToken, clinicianToken]) {
      expect((await hub.api('/v1/profiles/validate', { body: { yaml: flowpatch('1.0.0') }, token })).status).toBe(403);
      expect((await hub.api('/v1/profiles', { body: { yaml: flowpatch('1.0.0') }, token })).status).toBe(403);
      expect((await hub.api('/v1/devices/any/profile-pin', { method: 'PUT', body: { version: null }, token })).status).toBe(403);
      expect((await hub.api('/v1/devices/any/profile-pin', { token })).status).toBe(403);
    }
    expect((await hub.api('/v1/profiles', { body: { yaml: flowpatch('1.0.0') }, token: null })).status).toBe(401);
    // The routes are in the OpenAPI document, each body with an example and each role named.
    const spec = (await hub.api('/docs/json')).body as {
      paths: Record<string, Record<string, { description?: string; requestBody?: { content: Record<string, { schema: { example?: unknown } }> } }>>;
    };
    for (const [path, method] of [
      ['/v1/profiles', 'post'],
      ['/v1/profiles/validate', 'post'],
      ['/v1/devices/{id}/profile-pin', 'put'],
    ] as const) {
      const op = spec.paths[path]![method]!;
      expect(op.requestBody?.content['application/json']?.schema.example, path).toBeDefined();
      expect(op.description, path).toMatch(/Roles: admin\.$/);
    }
    expect((await hub.api('/v1/profiles/flowpatch')).status).toBe(404);
  });

  it("takes a new profile's device messages at once; readings and the trial's dataset name the version", async () => {
    const checked = await hub.api('/v1/profiles/validate', { body: { yaml: flowpatch('1.0.0') } });
    expect(checked.status).toBe(200);
    expect(checked.body).toMatchObject({ published: false, profile: { id: 'flowpatch', version: '1.0.0', commandTopic: 'devices/{deviceId}/commands' } });

    const published = await hub.api('/v1/profiles', { body: { yaml: flowpatch('1.0.0') } });
    expect(published.status).toBe(201);
    expect(published.body).toMatchObject({ profileId: 'flowpatch', version: '1.0.0', source: 'api', latest: true });
    expect((await hub.api('/v1/profiles', { body: { yaml: flowpatch('1.0.0') } })).status).toBe(200);

    await registerDevice('FP-1');
    await registerDevice('FP-PIN');
    expect((await hub.api('/v1/trials/fluid-t/assignments', { body: { deviceId: 'FP-1', participantId: 'p-1', from: Date.now() - HOUR } })).status).toBe(201);
    const pinned = await hub.api('/v1/devices/FP-PIN/profile-pin', { method: 'PUT', body: { version: '1.0.0' } });
    expect(pinned.body).toEqual({ deviceId: 'FP-PIN', profileId: 'flowpatch', version: '1.0.0' });
    expect((await hub.api('/v1/devices/FP-PIN/profile-pin', { method: 'PUT', body: { version: '7.0.0' } })).status).toBe(404);

    expect(await sendDrink('FP-1', 2)).toMatchObject({ value: 2, unit: 'mL', profileVersion: '1.0.0' });

    // Every role reads profiles, as before; the vendor also reads the versions and their text.
    const versions = await hub.api('/v1/profiles/flowpatch/versions', { token: vendorToken });
    expect(versions.body.items).toEqual([expect.objectContaining({ version: '1.0.0', source: 'api', latest: true })]);
    const text = await hub.api('/v1/profiles/flowpatch/versions/1.0.0', { token: vendorToken });
    expect(text.body).toEqual({ profileId: 'flowpatch', version: '1.0.0', yaml: flowpatch('1.0.0') });
  });

  it('decodes new messages with version 1.1.0 once published, while a pinned device stays on 1.0.0', async () => {
    expect((await hub.api('/v1/profiles', { body: { yaml: flowpatch('1.0.0').replace('unit: mL', 'unit: L') } })).body.code).toBe('CONFLICT');
    const v2 = await hub.api('/v1/profiles', { body: { yaml: flowpatch('1.1.0') } });
    expect(v2.status).toBe(201);
    expect((await hub.api('/v1/profiles/flowpatch')).body.version).toBe('1.1.0');
    expect((await hub.api('/v1/profiles/flowpatch/versions')).body.items.map((v: { version: string; latest: boolean }) => [v.version, v.latest])).toEqual([
      ['1.0.0', false],
      ['1.1.0', true],
    ]);

    // 1.1.0 reads the volume in decilitres: 3 dL is stored as 300 mL.
    expect(await sendDrink('FP-1', 3)).toMatchObject({ value: 300, unit: 'mL', profileVersion: '1.1.0' });
    expect(await sendDrink('FP-PIN', 3)).toMatchObject({ value: 3, unit: 'mL', profileVersion: '1.0.0' });
    // The topic 1.1.0 added is the device's from its next CONNECT.
    expect(await sendDrink('FP-1', 1, 'arena/FP-1/flow2')).toMatchObject({ value: 100, profileVersion: '1.1.0' });

    // Unpinned, the device follows the latest again.
    expect((await hub.api('/v1/devices/FP-PIN/profile-pin', { method: 'PUT', body: { version: null } })).body.version).toBeNull();
    expect(await sendDrink('FP-PIN', 4)).toMatchObject({ value: 400, profileVersion: '1.1.0' });

    const res = await fetch(`http://127.0.0.1:${hub.apiPort}/v1/trials/fluid-t/dataset?format=ndjson`, {
      headers: { authorization: `Bearer ${researcherToken}` },
    });
    expect(res.status).toBe(200);
    // Drinks of one second share a device time (epoch seconds), so their order in the dataset is not theirs to keep.
    const rows = parseNdjson(await res.text()).filter((r) => r.device_id === 'FP-1');
    expect(rows.map((r) => [r.value, r.unit, r.profile_id, r.profile_version]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
      [2, 'mL', 'flowpatch', '1.0.0'],
      [100, 'mL', 'flowpatch', '1.1.0'],
      [300, 'mL', 'flowpatch', '1.1.0'],
    ]);
  });
});
