import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { FIXTURES, fixtureLines, retime } from '../helpers/payloads.js';
import { until } from '../helpers/poll.js';

const run = promisify(execFile);
let hub: TestHub;
const secrets = new Map<string, string>();

beforeAll(async () => {
  hub = await startTestHub();
  expect((await hub.api('/v1/sites', { body: { id: 'site-a', name: 'Test room', kind: 'patient-room' } })).status).toBe(201);
  expect((await hub.api('/v1/sites/site-a/rooms', { body: { id: 'room-1', name: 'Room 1', beds: 1 } })).status).toBe(201);
  for (const profileId of Object.keys(FIXTURES)) {
    const { deviceId } = FIXTURES[profileId]!;
    const vendorId = `vendor-${profileId}`;
    expect((await hub.api('/v1/vendors', { body: { id: vendorId, name: profileId } })).status).toBe(201);
    const created = await hub.api('/v1/devices', { body: { id: deviceId, vendorId, profileId, siteId: 'site-a', roomId: 'room-1' } });
    expect(created.status).toBe(201);
    secrets.set(deviceId, created.body.secret);
  }
});
afterAll(async () => hub?.dispose());

describe('a valid message of every profile is stored and readable with the right units and codes', () => {
  for (const profileId of Object.keys(FIXTURES)) {
    it(profileId, async () => {
      const { deviceId } = FIXTURES[profileId]!;
      const topic = (await hub.api(`/v1/profiles/${profileId}`)).body.topics[0].replace('{deviceId}', deviceId) as string;
      const client = await connect(hub.mqttPort, deviceId, secrets.get(deviceId)!);
      const at = Date.now() - 60_000;
      try {
        // AquaScale's samples include a second scale (AQ-3002); only this device's lines apply.
        const own = fixtureLines(profileId).filter((l) => !l.includes('"serial"') || l.includes(`"serial":"${deviceId}"`));
        for (const [i, line] of own.entries()) await publish(client, topic, retime(line, at + i * 1000));
      } finally {
        await end(client);
      }
      // PUBACK came after the commit, so the data is readable now, without waiting.
      const readings = (await hub.api(`/v1/devices/${deviceId}/readings?limit=1000`)).body;
      const events = (await hub.api(`/v1/devices/${deviceId}/events?limit=1000`)).body;
      const rejections = (await hub.api(`/v1/devices/${deviceId}/rejections`)).body;
      expect(rejections.items ?? rejections).toEqual([]);
      const all = [...(readings.items ?? readings), ...(events.items ?? events)];
      expect(all.length).toBeGreaterThan(0);
      for (const p of all) expect(p).toMatchObject({ deviceId, profileId, siteId: 'site-a', roomId: 'room-1' });
    });
  }

  it('the fall carries VKP 4.1, severity 40, and its units are UCUM', async () => {
    const events = (await hub.api('/v1/devices/RS3D-00421/events?limit=1000')).body;
    const fall = (events.items ?? events).find((e: { name: string }) => e.name === 'fall');
    expect(fall).toMatchObject({ alertCode: '4.1', severity: 40 });
    const weights = (await hub.api('/v1/devices/AQ-3001/readings?name=body_weight&limit=10')).body;
    for (const w of weights.items ?? weights) expect(w.unit).toBe('kg');
    const volumes = (await hub.api('/v1/devices/AQ-3001/readings?name=fluid_intake&limit=10')).body;
    expect((volumes.items ?? volumes).map((v: { value: number }) => v.value).sort()).toEqual([200, 250]);
  });
});

describe('bad payloads become rejections the vendor can read', () => {
  it('records each with its reason code and path, and the device stays connected', async () => {
    const client: MqttClient = await connect(hub.mqttPort, 'RS3D-00421', secrets.get('RS3D-00421')!);
    try {
      const topic = 'devices/RS3D-00421/events';
      await publish(client, topic, '{"sensor":');
      await publish(client, topic, JSON.stringify({ sensor: 'RS3D-00421', time: 'now', event: { type: 'FALL_DETECTED' } }));
      await publish(client, topic, JSON.stringify({ sensor: 'RS3D-00421', time: Date.now(), event: { type: 'DANCING' } }));
      await publish(client, topic, JSON.stringify({ sensor: 'RS3D-00421', time: Date.now() - 400 * 86_400_000, event: { type: 'FALL_DETECTED' } }));
      expect(client.connected).toBe(true);
    } finally {
      await end(client);
    }
    const r = (await hub.api('/v1/devices/RS3D-00421/rejections?limit=10')).body;
    const codes = (r.items ?? r).map((x: { code: string }) => x.code).sort();
    expect(codes).toEqual(['EVENT_UNKNOWN', 'PAYLOAD_NOT_JSON', 'SCHEMA_VIOLATION', 'TIME_OUT_OF_RANGE']);
    const raw = (r.items ?? r).find((x: { code: string }) => x.code === 'PAYLOAD_NOT_JSON');
    expect(raw.payload).toBe('{"sensor":');
  });
});

describe('a device deactivated or re-keyed through the API while it is connected', () => {
  /** Publishes at QoS 1; true once acknowledged, false when the connection closes first. */
  const acknowledged = (c: MqttClient, payload: string): Promise<boolean> =>
    Promise.race([publish(c, 'devices/AQ-CUT/measurements', payload).then(() => true), new Promise<boolean>((r) => c.once('close', () => r(false)))]);
  const weight = (g: number): string => JSON.stringify({ serial: 'AQ-CUT', measured_at: new Date().toISOString(), kind: 'weight', value: g, unit: 'g' });
  const refusal = (secret: string): Promise<unknown> =>
    connect(hub.mqttPort, 'AQ-CUT', secret).then(
      (c) => end(c).then(() => 'accepted'),
      (e: { code?: number }) => e.code,
    );

  it('is cut off at its next publish and refused at its next CONNECT; the new secret works', async () => {
    expect((await hub.api('/v1/vendors', { body: { id: 'vendor-cut', name: 'AquaScale' } })).status).toBe(201);
    const created = await hub.api('/v1/devices', {
      body: { id: 'AQ-CUT', vendorId: 'vendor-cut', profileId: 'aquascale', siteId: 'site-a', roomId: 'room-1' },
    });
    expect(created.status).toBe(201);

    let c = await connect(hub.mqttPort, 'AQ-CUT', created.body.secret);
    expect(await acknowledged(c, weight(70_000))).toBe(true);
    expect((await hub.api('/v1/devices/AQ-CUT', { method: 'PATCH', body: { active: false } })).status).toBe(200);
    expect(await acknowledged(c, weight(70_100))).toBe(false);
    await end(c);
    expect(await refusal(created.body.secret)).toBe(4);

    expect((await hub.api('/v1/devices/AQ-CUT', { method: 'PATCH', body: { active: true } })).status).toBe(200);
    c = await connect(hub.mqttPort, 'AQ-CUT', created.body.secret);
    const rotated = await hub.api('/v1/devices/AQ-CUT/rotate-secret', { method: 'POST', body: {} });
    expect(rotated.status).toBe(200);
    expect(await acknowledged(c, weight(70_200))).toBe(false);
    await end(c);
    expect(await refusal(created.body.secret)).toBe(4);
    c = await connect(hub.mqttPort, 'AQ-CUT', rotated.body.secret);
    expect(await acknowledged(c, weight(70_300))).toBe(true);
    await end(c);

    const stored = (await hub.api('/v1/devices/AQ-CUT/readings?name=body_weight&limit=10')).body;
    expect(stored.items.map((r: { value: number }) => r.value).sort()).toEqual([70, 70.3]);
  });
});

describe('an outside client (mosquitto_pub) against the hub', () => {
  beforeAll(() => {
    // tests/setup/ensure-packages.sh installs it; a missing client is a failed set-up, not a reason to skip.
    expect(spawnSync('sh', ['-c', 'command -v mosquitto_pub']).status, 'mosquitto_pub (Debian mosquitto-clients)').toBe(0);
  });

  it('publishes a reading that becomes visible through the API', async () => {
    const payload = JSON.stringify({ serial: 'AQ-3001', measured_at: new Date().toISOString(), kind: 'weight', value: 70500, unit: 'g' });
    await run('mosquitto_pub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(hub.mqttPort),
      '-V',
      'mqttv311',
      '-q',
      '1',
      '-i',
      'AQ-3001',
      '-u',
      'AQ-3001',
      '-P',
      secrets.get('AQ-3001')!,
      '-t',
      'devices/AQ-3001/measurements',
      '-m',
      payload,
    ]);
    const weights = (await hub.api('/v1/devices/AQ-3001/readings?name=body_weight&limit=50')).body;
    expect((weights.items ?? weights).some((w: { value: number }) => Math.abs(w.value - 70.5) < 1e-9)).toBe(true);
  });

  it('is refused with a wrong password, as an unknown device, and when spoofing a topic', async () => {
    const base = ['-h', '127.0.0.1', '-p', String(hub.mqttPort), '-V', 'mqttv311', '-q', '1'];
    // The same refusal for both (CONNACK 4), so a guesser learns nothing of which devices exist.
    const refused = { stderr: expect.stringMatching(/bad user name or password/i) };
    await expect(run('mosquitto_pub', [...base, '-m', '{}', '-u', 'AQ-3001', '-P', 'wrong', '-t', 'devices/AQ-3001/measurements'])).rejects.toMatchObject(
      refused,
    );
    await expect(run('mosquitto_pub', [...base, '-m', '{}', '-u', 'NOPE-1', '-P', 'x', '-t', 'devices/NOPE-1/measurements'])).rejects.toMatchObject(refused);

    // A well-formed message of the victim's, sent with the spoofer's credentials on the victim's topic: the
    // broker closes the connection without a PUBACK (mosquitto_pub fails), keeps it as the spoofer's
    // TOPIC_NOT_ALLOWED rejection, and stores nothing for the victim.
    const marker = 'spoofed-73911';
    const forged = JSON.stringify({ serial: 'DB-0077', ts: new Date().toISOString(), event: 'DOSE_TAKEN', note: marker });
    await expect(
      run('mosquitto_pub', [...base, '-i', 'spoof', '-u', 'AQ-3001', '-P', secrets.get('AQ-3001')!, '-t', 'devices/DB-0077/events', '-m', forged], {
        timeout: 10_000,
      }),
      // Exit 7 (MOSQ_ERR_CONN_LOST): the broker closed the connection, not the timeout.
    ).rejects.toMatchObject({ killed: false, code: 7, stderr: expect.stringMatching(/connection was lost/i) });
    const spoofer = await until('the TOPIC_NOT_ALLOWED rejection', async () => {
      const items = (await hub.api('/v1/devices/AQ-3001/rejections')).body.items as { code: string; topic: string }[];
      return items.find((r) => r.code === 'TOPIC_NOT_ALLOWED' && r.topic === 'devices/DB-0077/events');
    });
    expect(spoofer).toBeDefined();
    for (const path of ['/v1/devices/DB-0077/rejections', '/v1/devices/DB-0077/events?limit=500']) {
      const res = await hub.api(path);
      expect(res.status, path).toBe(200);
      expect(JSON.stringify(res.body), path).not.toContain(marker);
    }
  });
});

describe('the start', () => {
  it('stops with a message naming the file and the field when a profile is bad', () => {
    const dir = mkdtempSync(join(tmpdir(), 'profiles-'));
    cpSync('device-profiles/profiles', dir, { recursive: true });
    const f = join(dir, 'dosebox', 'profile.yaml');
    writeFileSync(f, readFileSync(f, 'utf8').replace('family: medication-dispenser', 'family: toaster'));
    const res = spawnSync('node', ['dist/hub/main.js'], {
      env: {
        ...process.env,
        ARENA_PROFILES_DIR: dir,
        ARENA_DATA_DIR: mkdtempSync(join(tmpdir(), 'data-')),
        MQTT_PORT: '0',
        MQTT_WS_PORT: '0',
        API_PORT: '0',
        LOG_LEVEL: 'silent',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/dosebox\/profile\.yaml: family/);
  });
});
