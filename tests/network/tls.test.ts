import { execFile, spawnSync } from 'node:child_process';
import { copyFileSync, renameSync } from 'node:fs';
import { request } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import mqtt from 'mqtt';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { end, publish } from '../helpers/mqtt.js';
import { fingerprintOf, makePki, type Pki } from './pki.js';
import { until } from '../helpers/poll.js';

// The hub with TLS on and plain listeners off, as compose runs it: mosquitto_pub (Debian
// mosquitto-clients) as the outside client, with a secret and with device certificates
// issued by a CA these tests make; the API over HTTPS against the same CA.

let pki: Pki;
let arenaCa: { cert: string; key: string };
let hub: TestHub;
let certFile: string;
let keyFile: string;
const secrets = new Map<string, string>();

const ports = () => ({ tls: hub.ports.tlsPort!, wss: hub.ports.wssPort! });

function api(path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const body = init.body === undefined ? undefined : JSON.stringify(init.body);
    const req = request(
      {
        host: '127.0.0.1',
        port: hub.apiPort,
        path,
        method: init.method ?? (body === undefined ? 'GET' : 'POST'),
        ca: readFileSync(arenaCa.cert),
        headers: { authorization: `Bearer ${hub.adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          resolve({ status: res.statusCode ?? 0, body: (res.headers['content-type'] ?? '').includes('json') && text ? JSON.parse(text) : text });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

function mosquittoPub(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'mosquitto_pub',
      ['-h', '127.0.0.1', '-p', String(ports().tls), '-V', 'mqttv311', '-q', '1', '--cafile', arenaCa.cert, ...args],
      { timeout: 10_000 },
      (err, _stdout, stderr) => resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
}

const fall = (deviceId: string, at = Date.now()) =>
  JSON.stringify({ sensor: deviceId, time: at, fw: '2.4.1', event: { type: 'FALL_DETECTED', confidence: 0.9, zone: 'floor-bedside' } });
const eventCount = async (deviceId: string): Promise<number> => (await api(`/v1/devices/${deviceId}/events?limit=1000`)).body.items.length;
const weights = async (deviceId: string): Promise<number[]> =>
  ((await api(`/v1/devices/${deviceId}/readings?name=body_weight&limit=100`)).body.items as { value: number; unit: string }[])
    .map((r) => {
      expect(r.unit).toBe('kg');
      return Math.round(r.value * 1000) / 1000;
    })
    .sort();

/** The certificate the server shows a new connection, by its SHA-256 fingerprint. */
const servedFingerprint = (port: number): Promise<string> =>
  new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: readFileSync(arenaCa.cert), servername: 'localhost' }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.end();
    });
    socket.on('error', reject);
  });

beforeAll(async () => {
  expect(spawnSync('mosquitto_pub', ['--help']).error, 'mosquitto_pub (Debian mosquitto-clients)').toBeUndefined();
  pki = makePki();
  arenaCa = pki.ca('arena-ca');
  const server = pki.issue(arenaCa, 'server-1', { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' });
  certFile = join(pki.dir, 'tls.crt');
  keyFile = join(pki.dir, 'tls.key');
  copyFileSync(server.cert, certFile);
  copyFileSync(server.key, keyFile);
  hub = await startTestHub({
    TLS_CERT_FILE: certFile,
    TLS_KEY_FILE: keyFile,
    MQTT_DEVICE_CA_FILE: arenaCa.cert,
    MQTT_PLAIN: 'off',
    MQTT_TLS_PORT: '0',
    MQTT_WSS_PORT: '0',
    TLS_RELOAD_CHECK_MS: '100',
  });
  expect((await api('/v1/sites', { body: { id: 'site-a', name: 'Test room', kind: 'patient-room' } })).status).toBe(201);
  expect((await api('/v1/sites/site-a/rooms', { body: { id: 'room-1', name: 'Room 1', beds: 1 } })).status).toBe(201);
  expect((await api('/v1/vendors', { body: { id: 'vendor-a', name: 'Vendor A' } })).status).toBe(201);
  for (const [id, profileId] of [
    ['AQ-TLS-1', 'aquascale'],
    ['RS3D-CERT-1', 'roomsense-3d'],
    ['RS3D-CERT-2', 'roomsense-3d'],
    ['RS3D-OFF-1', 'roomsense-3d'],
  ] as const) {
    const created = await api('/v1/devices', { body: { id, vendorId: 'vendor-a', profileId, siteId: 'site-a', roomId: 'room-1' } });
    expect(created.status).toBe(201);
    secrets.set(id, created.body.secret);
  }
});
afterAll(async () => hub?.dispose());

describe('TLS listeners, plain ones off', () => {
  it('serves MQTT over TLS and secure WebSocket and the API over HTTPS only', async () => {
    expect(hub.mqttPort).toBe(0);
    expect(hub.ports).toEqual({ tlsPort: expect.any(Number), wssPort: expect.any(Number) });
    expect((await api('/v1/devices')).status).toBe(200);
    await expect(fetch(`http://127.0.0.1:${hub.apiPort}/healthz`)).rejects.toThrow('fetch failed');

    const ws = await new Promise<mqtt.MqttClient>((resolve, reject) => {
      const c = mqtt.connect(`wss://127.0.0.1:${ports().wss}/mqtt`, {
        ca: readFileSync(arenaCa.cert),
        username: 'AQ-TLS-1',
        password: secrets.get('AQ-TLS-1')!,
        clientId: 'AQ-TLS-1-ws',
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    const payload = JSON.stringify({ serial: 'AQ-TLS-1', measured_at: new Date().toISOString(), kind: 'weight', value: 70100, unit: 'g' });
    await publish(ws, 'devices/AQ-TLS-1/measurements', payload);
    await end(ws);
    expect(await weights('AQ-TLS-1')).toEqual([70.1]);
  });

  it('takes a device secret over TLS from mosquitto_pub and refuses a wrong one', async () => {
    const payload = JSON.stringify({ serial: 'AQ-TLS-1', measured_at: new Date().toISOString(), kind: 'weight', value: 70200, unit: 'g' });
    const ok = await mosquittoPub(['-i', 'AQ-TLS-1', '-u', 'AQ-TLS-1', '-P', secrets.get('AQ-TLS-1')!, '-t', 'devices/AQ-TLS-1/measurements', '-m', payload]);
    expect(ok).toEqual({ code: 0, stderr: '' });
    const bad = await mosquittoPub(['-i', 'AQ-TLS-1', '-u', 'AQ-TLS-1', '-P', 'wrong', '-t', 'devices/AQ-TLS-1/measurements', '-m', payload]);
    expect(bad.stderr).toMatch(/bad user name or password/i);
    expect(await weights('AQ-TLS-1')).toEqual([70.1, 70.2]);
  });
});

describe('device certificates', () => {
  it('logs a device in by the CN or the subjectAltName of a certificate the arena CA issued, without a secret', async () => {
    const byCn = pki.issue(arenaCa, 'device-cn', { cn: 'RS3D-CERT-1' });
    const bySan = pki.issue(arenaCa, 'device-san', { san: 'URI:urn:dev:RS3D-CERT-2' });
    expect(
      await mosquittoPub(['-i', 'RS3D-CERT-1', '--cert', byCn.cert, '--key', byCn.key, '-t', 'devices/RS3D-CERT-1/events', '-m', fall('RS3D-CERT-1')]),
    ).toEqual({ code: 0, stderr: '' });
    expect(
      await mosquittoPub(['-i', 'RS3D-CERT-2', '--cert', bySan.cert, '--key', bySan.key, '-t', 'devices/RS3D-CERT-2/events', '-m', fall('RS3D-CERT-2')]),
    ).toEqual({ code: 0, stderr: '' });
    expect(await eventCount('RS3D-CERT-1')).toBe(1);
    expect(await eventCount('RS3D-CERT-2')).toBe(1);

    // The certificate is the device's identity: it cannot log in as another device, nor publish as one.
    const asOther = await mosquittoPub([
      '-i',
      'x1',
      '--cert',
      byCn.cert,
      '--key',
      byCn.key,
      '-u',
      'RS3D-CERT-2',
      '-t',
      'devices/RS3D-CERT-2/events',
      '-m',
      fall('RS3D-CERT-2'),
    ]);
    expect(asOther.stderr).toMatch(/not authori[sz]ed/i);
    const foreignTopic = await mosquittoPub([
      '-i',
      'x2',
      '--cert',
      byCn.cert,
      '--key',
      byCn.key,
      '-t',
      'devices/RS3D-CERT-2/events',
      '-m',
      fall('RS3D-CERT-2'),
    ]);
    expect(foreignTopic.code).not.toBe(0);
    expect(await eventCount('RS3D-CERT-2')).toBe(1);
  });

  it('refuses the certificate of a deactivated device', async () => {
    const cert = pki.issue(arenaCa, 'device-off', { cn: 'RS3D-OFF-1' });
    const args = ['-i', 'RS3D-OFF-1', '--cert', cert.cert, '--key', cert.key, '-t', 'devices/RS3D-OFF-1/events'];
    expect(await mosquittoPub([...args, '-m', fall('RS3D-OFF-1')])).toEqual({ code: 0, stderr: '' });
    expect((await api('/v1/devices/RS3D-OFF-1', { method: 'PATCH', body: { active: false } })).status).toBe(200);
    const refused = await mosquittoPub([...args, '-m', fall('RS3D-OFF-1')]);
    expect(refused.stderr).toMatch(/bad user name or password/i);
    expect(await eventCount('RS3D-OFF-1')).toBe(1);
  });

  it('refuses a certificate from a CA the arena did not configure, even naming a registered device', async () => {
    const rogueCa = pki.ca('rogue-ca');
    const rogue = pki.issue(rogueCa, 'device-rogue', { cn: 'RS3D-CERT-1' });
    const refused = await mosquittoPub([
      '-i',
      'RS3D-CERT-1',
      '--cert',
      rogue.cert,
      '--key',
      rogue.key,
      '-t',
      'devices/RS3D-CERT-1/events',
      '-m',
      fall('RS3D-CERT-1'),
    ]);
    expect(refused.code).not.toBe(0);
    // Closed after the handshake, before any CONNACK: no MQTT answer at all.
    expect(refused.stderr).not.toMatch(/Connection Refused/i);
    expect(await eventCount('RS3D-CERT-1')).toBe(1);
  });
});

describe('certificate renewal', () => {
  it('serves a replaced certificate to new connections without a restart', async () => {
    const before = { mqtt: ports().tls, api: hub.apiPort };
    expect(await servedFingerprint(before.mqtt)).toBe(fingerprintOf(certFile));
    const renewed = pki.issue(arenaCa, 'server-2', { cn: 'localhost', san: 'DNS:localhost,IP:127.0.0.1' });
    const wanted = fingerprintOf(renewed.cert);
    expect(wanted).not.toBe(fingerprintOf(certFile));
    // As certbot does: each file replaced whole by a rename, one after the other.
    copyFileSync(renewed.cert, `${certFile}.new`);
    copyFileSync(renewed.key, `${keyFile}.new`);
    renameSync(`${certFile}.new`, certFile);
    renameSync(`${keyFile}.new`, keyFile);

    for (const port of [before.mqtt, ports().wss, before.api]) {
      await until(`the renewed certificate on port ${port}`, async () => ((await servedFingerprint(port)) === wanted ? true : undefined));
    }
    expect({ mqtt: ports().tls, api: hub.apiPort }).toEqual(before);
    const payload = JSON.stringify({ serial: 'AQ-TLS-1', measured_at: new Date().toISOString(), kind: 'weight', value: 70300, unit: 'g' });
    expect(
      await mosquittoPub(['-i', 'AQ-TLS-1', '-u', 'AQ-TLS-1', '-P', secrets.get('AQ-TLS-1')!, '-t', 'devices/AQ-TLS-1/measurements', '-m', payload]),
    ).toEqual({ code: 0, stderr: '' });
    expect(await weights('AQ-TLS-1')).toEqual([70.1, 70.2, 70.3]);
  });
});
