import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { HANDOFF_SHARDS } from '../../kernel/handoff.js';
import { registerFleetIn } from '../../soak/arena.js';
import { Fleet } from '../../soak/fleet.js';
import { freePort, startService, type Service } from '../../soak/processes.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { until } from '../helpers/poll.js';
import { shardsHeld, startWorker, tallyInflux, influxEnv } from '../helpers/workers.js';
import { startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { startRedis, type RunningRedis } from '../setup/redis.js';

/**
 * Issue #21: the scaled layout on one machine, every engine real. Two brokers share
 * their sessions and queues through Redis (BROKER_STATE=redis), two ingest workers share
 * the handoff shards (one on each broker), InfluxDB stores, PostgreSQL holds the registry
 * and the shard leases. Devices know both brokers. Under load one broker and one worker
 * are killed with kill -9: the devices move to the other broker, the other worker takes
 * every shard there, and every acknowledged message is stored once; a fall then still raises its alarm on the ward.
 */

const DEVICES = 6;
const PER_DEVICE = 300;
const INTERVAL_MS = 20;
const SECRET = 'scaled-layout-service-secret';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

let pg: RunningPostgres;
let influx: RunningInfluxd;
let redis: RunningRedis;
const dataDir = mkdtempSync(join(tmpdir(), 'arena-scaled-'));
const running: Service[] = [];
beforeAll(async () => {
  [pg, influx, redis] = await Promise.all([startPostgres(), startInfluxd('scaled'), startRedis()]);
});
afterAll(async () => {
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  await Promise.all([pg?.stop(), influx?.stop(), redis?.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('two brokers on Redis and two ingest workers', () => {
  it('kill -9 of one broker and one worker under load: devices move to the other broker, nothing acknowledged is lost or stored twice', {
    timeout: 240_000,
  }, async () => {
    const registryUrl = await pg.newDatabase('scaled');
    const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
    const devices = await registerFleetIn(registry, DEVICES, 'SCL');
    // A ward with a fall sensor, and an admin to read its alarms.
    await registry.createSite({ id: 'ward-3', name: 'Ward 3', kind: 'patient-room' });
    await registry.createRoom({ id: 'r-101', siteId: 'ward-3', name: 'r-101', beds: 1 });
    await registry.createVendor({ id: 'roomsense', name: 'RoomSense' });
    const sensor = await registry.createDevice({ id: 'RS3D-101', vendorId: 'roomsense', profileId: 'roomsense-3d', siteId: 'ward-3', roomId: 'r-101' });
    const admin = (await registry.issueToken({ role: 'admin', label: 'scaled layout test', expiresAt: null })).token;
    await registry.close();
    const ports = {
      m1: await freePort(),
      m2: await freePort(),
      w1: await freePort(),
      w2: await freePort(),
      a: await freePort(),
      b: await freePort(),
      api: await freePort(),
    };
    const common = { ARENA_REGISTRY_URL: registryUrl, BROKER_SERVICE_SECRET: SECRET, MQTT_HOST: '127.0.0.1' };
    const track = async (s: Promise<Service>): Promise<Service> => {
      const service = await s;
      running.push(service);
      return service;
    };
    const broker = (n: 1 | 2): Promise<Service> =>
      track(
        startService({
          name: `broker-${n}`,
          entry: 'broker/main.js',
          logFile: join(dataDir, `broker-${n}.log`),
          ready: { port: ports[`m${n}`] },
          env: {
            ...common,
            MQTT_PORT: String(ports[`m${n}`]),
            MQTT_WS_PORT: String(ports[`w${n}`]),
            ARENA_DATA_DIR: join(dataDir, `broker-${n}`),
            BROKER_STATE: 'redis',
            BROKER_REDIS_URL: redis.url,
            LOG_LEVEL: 'warn',
          },
        }),
      );
    const worker = (name: 'a' | 'b', brokerPort: number): Promise<Service> =>
      track(startWorker({ name, dataDir, env: { ...common, MQTT_PORT: String(brokerPort) }, influx, httpPort: ports[name] }));
    const held = (name: 'a' | 'b'): Promise<number> => shardsHeld(ports[name]);

    const broker1 = await broker(1);
    await broker(2);
    const workerA = await worker('a', ports.m1);
    await worker('b', ports.m2);
    await until('the two workers hold 8 shards each', async () => (await held('a')) === 8 && (await held('b')) === 8, 30_000);
    // The API and its alarm engine, on the broker that stays.
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    await track(
      startService({
        name: 'api',
        entry: 'api/main.js',
        logFile: join(dataDir, 'api.log'),
        ready: { ok: `${apiUrl}/readyz` },
        env: {
          ...common,
          ...influxEnv,
          MQTT_PORT: String(ports.m2),
          ARENA_DATA_DIR: join(dataDir, 'api'),
          API_HOST: '127.0.0.1',
          API_PORT: String(ports.api),
          LOG_LEVEL: 'info',
        },
      }),
    );

    const fleet = new Fleet({
      url: `mqtt://127.0.0.1:${ports.m1}`,
      servers: [
        { host: '127.0.0.1', port: ports.m1 },
        { host: '127.0.0.1', port: ports.m2 },
      ],
      devices,
      messagesPerDevice: PER_DEVICE,
      intervalMs: INTERVAL_MS,
      baseTime: Date.now() - 3_600_000,
    });
    await fleet.start();
    try {
      await until('a third of the messages acknowledged', () => fleet.acked >= (DEVICES * PER_DEVICE) / 3, 60_000);
      await Promise.all([broker1.kill9(), workerA.kill9()]);
      await until('worker b holds every shard', async () => (await held('b')) === HANDOFF_SHARDS, 30_000);
      await fleet.drained(120_000);
      expect(fleet.acked).toBe(DEVICES * PER_DEVICE);
      expect(fleet.tallies.some((t) => t.reconnects > 0)).toBe(true); // devices of broker 1 moved

      // A fall after the losses still reaches the ward: broker 2, worker b, the API's alarm engine.
      const fallDevice = mqtt.connect({
        servers: [
          { host: '127.0.0.1', port: ports.m1 },
          { host: '127.0.0.1', port: ports.m2 },
        ],
        clientId: 'c-RS3D-101',
        username: 'RS3D-101',
        password: sensor.secret,
        protocolVersion: 4,
        reconnectPeriod: 100,
      });
      fallDevice.on('error', () => undefined); // broker 1 refuses: mqtt.js goes on to the next
      try {
        await new Promise((resolve) => fallDevice.once('connect', resolve));
        const fall = JSON.stringify({ sensor: 'RS3D-101', time: Date.now(), event: { type: 'FALL_DETECTED', confidence: 0.93, zone: 'floor-bedside' } });
        await fallDevice.publishAsync('devices/RS3D-101/events', fall, { qos: 1 });
      } finally {
        await fallDevice.endAsync();
      }
      const alarms = async (): Promise<{ rule: string; roomId: string }[]> => {
        const res = await fetch(`${apiUrl}/v1/alarms?siteId=ward-3`, { headers: { authorization: `Bearer ${admin}` } });
        return res.ok ? ((await res.json()) as { items: { rule: string; roomId: string }[] }).items : [];
      };
      await until('the fall raises an alarm on the ward', async () => (await alarms()).some((a) => a.rule === 'fall' && a.roomId === 'r-101'), 30_000, 250);

      // Worker a's outbox holds what it had acknowledged but not yet written to InfluxDB:
      // restarted on its folder (on the remaining broker), it delivers it.
      await worker('a', ports.m2);
      const tally = await tallyInflux(influx, registryUrl, fleet);
      expect(tally).toMatchObject({ acknowledged: DEVICES * PER_DEVICE, stored: DEVICES * PER_DEVICE, lost: 0, storedTwice: 0 });
    } finally {
      await fleet.close();
    }
  });
});
