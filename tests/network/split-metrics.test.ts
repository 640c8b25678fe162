import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { registerFleetIn } from '../../soak/arena.js';
import type { FleetDevice } from '../../soak/fleet.js';
import { freePort, splitLayout, type Service } from '../../soak/processes.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';

// The split layout's broker (BROKER_METRICS_PORT) and ingest (INGEST_HTTP_PORT) expose
// their own /metrics; scraped after real MQTT traffic through both processes.

const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });
let pg: RunningPostgres;
let devices: FleetDevice[];
let dataDir: string;
const running: Service[] = [];
let layout: ReturnType<typeof splitLayout>;
const ports = { mqtt: 0, ws: 0, ingestHttp: 0, brokerMetrics: 0 };

beforeAll(async () => {
  pg = await startPostgres();
  const registryUrl = await pg.newDatabase('metrics');
  const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
  devices = await registerFleetIn(registry, 1, 'MET');
  await registry.close();
  dataDir = mkdtempSync(join(tmpdir(), 'arena-split-metrics-'));
  Object.assign(ports, { mqtt: await freePort(), ws: await freePort(), ingestHttp: await freePort(), brokerMetrics: await freePort() });
  layout = splitLayout({
    dataDir,
    registryUrl,
    ports,
    serviceSecret: 'split-metrics-service-secret',
    env: { BROKER_METRICS_PORT: String(ports.brokerMetrics) },
  });
  running.push(await layout.startBroker(), await layout.startIngest());
}, 120_000);
afterAll(async () => {
  await Promise.all(running.map((s) => s.stop()));
  rmSync(dataDir, { recursive: true, force: true });
  await pg?.stop();
});

const sample = (text: string, key: string): number | undefined => {
  const line = text.split('\n').find((l) => l.startsWith(`${key} `));
  return line === undefined ? undefined : Number(line.slice(key.length + 1));
};
const scrape = async (port: number): Promise<string> => {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
};

it('broker and ingest each serve their metrics, moved by a real publish and a refused login', { timeout: 60_000 }, async () => {
  const d = devices[0]!;
  const url = `mqtt://127.0.0.1:${ports.mqtt}`;
  const c = await mqtt.connectAsync(url, { username: d.deviceId, password: d.secret, clientId: d.deviceId, protocolVersion: 4, reconnectPeriod: 0 });
  try {
    await c.publishAsync(
      `devices/${d.deviceId}/measurements`,
      JSON.stringify({ serial: d.deviceId, measured_at: new Date().toISOString(), kind: 'weight', value: 71000, unit: 'g' }),
      { qos: 1 },
    );
    await expect(
      mqtt.connectAsync(url, { username: d.deviceId, password: 'wrong', clientId: 'guess', protocolVersion: 4, reconnectPeriod: 0 }),
    ).rejects.toMatchObject({ code: 4 }); // CONNACK return code 4, bad user name or password (MQTT 3.1.1, 3.2.2.3)
    const broker = await scrape(ports.brokerMetrics);
    // The device, and ingest's handoff and forward sessions.
    expect(sample(broker, 'arena_mqtt_connections')).toBeGreaterThanOrEqual(2);
    expect(sample(broker, 'arena_mqtt_login_refusals_total{return_code="4"}')).toBe(1);
    expect(sample(broker, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    const ingest = await scrape(ports.ingestHttp);
    expect(sample(ingest, 'arena_messages_accepted_total')).toBe(1);
    expect(sample(ingest, 'arena_commit_latency_seconds_count')).toBe(1);
  } finally {
    await c.endAsync(true);
  }
});
