import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { handoffFilter } from '../../kernel/handoff.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { registerFleetIn } from '../../soak/arena.js';
import type { FleetDevice } from '../../soak/fleet.js';
import { DIST, freePort, splitLayout, type Service } from '../../soak/processes.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';

/**
 * The split layout (broker/main.ts, ingest/main.ts, registry in PostgreSQL) as separate
 * processes: what it guarantees besides surviving faults (tests/faults/split.test.ts).
 */

const SECRET = 'split-layout-service-secret';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

let pg: RunningPostgres;
let registryUrl: string;
let devices: FleetDevice[];
beforeAll(async () => {
  pg = await startPostgres();
  registryUrl = await pg.newDatabase('layout');
  const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
  devices = await registerFleetIn(registry, 3, 'LAY');
  await registry.close();
});
afterAll(async () => pg?.stop());

let dataDir: string;
const running: Service[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  rmSync(dataDir, { recursive: true, force: true });
});

async function layout() {
  dataDir = mkdtempSync(join(tmpdir(), 'arena-split-'));
  const ports = { mqtt: await freePort(), ws: await freePort(), ingestHttp: await freePort() };
  const l = splitLayout({ dataDir, registryUrl, ports, serviceSecret: SECRET });
  const track = async (start: () => Promise<Service>): Promise<Service> => {
    const s = await start();
    running.push(s);
    return s;
  };
  return {
    url: `mqtt://127.0.0.1:${ports.mqtt}`,
    startBroker: () => track(l.startBroker),
    startIngest: () => track(l.startIngest),
    ingestIdle: l.ingestIdle,
    /** Stops ingest and reads its store. */
    storeAfter: async (ingest: Service) => {
      expect(await ingest.stop()).toBe(0);
      return openDuckDbTelemetryStore({ path: join(l.ingestDataDir, 'telemetry.duckdb') });
    },
  };
}

async function device(url: string, d: FleetDevice, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, {
    username: d.deviceId,
    password: d.secret,
    clientId: `c-${d.deviceId}`,
    protocolVersion: 4,
    reconnectPeriod: 0,
    ...opts,
  });
  clients.push(c);
  return c;
}

const weight = (d: FleetDevice, grams: number): string =>
  JSON.stringify({ serial: d.deviceId, measured_at: new Date(Date.now() - 60_000).toISOString(), kind: 'weight', value: grams, unit: 'g' });

describe('the split layout', () => {
  it('acknowledges nothing while no ingest session exists, then everything once ingest has subscribed', { timeout: 120_000 }, async () => {
    const l = await layout();
    await l.startBroker();
    const [d] = devices as [FleetDevice];
    const early = await device(l.url, d);
    let pubacks = 0;
    early.on('packetreceive', (p) => p.cmd === 'puback' && pubacks++);
    const closed = new Promise<void>((r) => early.once('close', () => r()));
    early.publish(`devices/${d.deviceId}/measurements`, weight(d, 70_001), { qos: 1 });
    await closed; // refused without PUBACK: nobody would have stored it
    expect(pubacks).toBe(0);

    const ingest = await l.startIngest();
    const late = await device(l.url, d);
    await late.publishAsync(`devices/${d.deviceId}/measurements`, weight(d, 70_001), { qos: 1 });
    await l.ingestIdle(500);
    const store = await l.storeAfter(ingest);
    try {
      const values: number[] = [];
      for await (const p of store.points({ deviceIds: [d.deviceId] })) if (p.kind === 'reading') values.push(p.value);
      expect(values).toEqual([70.001]);
    } finally {
      await store.close();
    }
  });

  it('records what the broker refuses for a known device, with reason and raw payload, through the handoff', { timeout: 120_000 }, async () => {
    const l = await layout();
    await l.startBroker();
    const ingest = await l.startIngest();
    const [a, b] = devices as [FleetDevice, FleetDevice];
    const c = await device(l.url, a);
    await c.publishAsync(`devices/${a.deviceId}/measurements`, Buffer.alloc(70_000, 0x7b), { qos: 1 }); // over MQTT_MAX_PAYLOAD_BYTES (64 KiB)
    await c.publishAsync(`devices/${a.deviceId}/measurements`, '{"serial":', { qos: 1 });
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    const spoofed = weight(b, 1);
    c.publish(`devices/${b.deviceId}/measurements`, spoofed, { qos: 1 }); // another device's topic
    await closed;
    await l.ingestIdle(500);
    const store = await l.storeAfter(ingest);
    try {
      const rejections = await store.rejections({ deviceIds: [a.deviceId, b.deviceId] });
      expect(rejections.map((r) => [r.deviceId, r.code]).sort()).toEqual([
        [a.deviceId, 'PAYLOAD_NOT_JSON'],
        [a.deviceId, 'PAYLOAD_TOO_LARGE'],
        [a.deviceId, 'TOPIC_NOT_ALLOWED'],
      ]);
      expect(rejections.find((r) => r.code === 'TOPIC_NOT_ALLOWED')).toMatchObject({ topic: `devices/${b.deviceId}/measurements`, payload: spoofed });
      expect(rejections.find((r) => r.code === 'PAYLOAD_NOT_JSON')?.payload).toBe('{"serial":');
      const points = [];
      for await (const p of store.points({ deviceIds: [b.deviceId] })) points.push(p);
      expect(points).toEqual([]); // the spoofed message is nobody's data
    } finally {
      await store.close();
    }
  });

  it('keeps sessions across a broker restart: Session Present 1 [MQTT-3.2.2-2]', { timeout: 120_000 }, async () => {
    const l = await layout();
    const broker = await l.startBroker();
    const [, , d] = devices as [FleetDevice, FleetDevice, FleetDevice];
    const first = await device(l.url, d, { clean: false });
    await first.endAsync();
    expect(await broker.stop()).toBe(0);
    await l.startBroker();
    const again = mqtt.connect(l.url, {
      username: d.deviceId,
      password: d.secret,
      clientId: `c-${d.deviceId}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      clean: false,
    });
    clients.push(again);
    const connack = await new Promise<{ sessionPresent: boolean }>((resolve) => again.once('connect', resolve));
    expect(connack.sessionPresent).toBe(true);
  });

  it('lets only the service account take the handoff', { timeout: 120_000 }, async () => {
    const l = await layout();
    await l.startBroker();
    const [d] = devices as [FleetDevice];
    const c = await device(l.url, d);
    const granted = await c.subscribeAsync(handoffFilter(0), { qos: 1 }).catch((e: { packet?: { granted: number[] } }) => e.packet?.granted);
    expect(JSON.stringify(granted)).toContain('128');
    await expect(mqtt.connectAsync(l.url, { username: 'arena-ingest', password: 'not-the-secret', reconnectPeriod: 0 })).rejects.toThrow(
      /bad user ?name or password/i,
    );
  });
});

describe('split services refuse an incomplete configuration', () => {
  const run = (entry: string, env: Record<string, string>) =>
    spawnSync(process.execPath, [join(DIST, entry)], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent', ...env }, encoding: 'utf8', timeout: 20_000 });

  it.each(['broker/main.js', 'ingest/main.js', 'api/main.js'])('%s without ARENA_REGISTRY_URL exits 2 naming it', (entry) => {
    const r = run(entry, { BROKER_SERVICE_SECRET: SECRET });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/ARENA_REGISTRY_URL/);
  });

  it.each(['broker/main.js', 'ingest/main.js'])('%s without BROKER_SERVICE_SECRET exits 2 naming it', (entry) => {
    const r = run(entry, { ARENA_REGISTRY_URL: 'postgres://nobody@127.0.0.1:1/none' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/BROKER_SERVICE_SECRET/);
  });
});
