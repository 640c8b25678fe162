import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { HANDOFF_SHARDS } from '../../kernel/handoff.js';
import { registerFleetIn } from '../../soak/arena.js';
import { freePort, startService, type Service } from '../../soak/processes.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { fleetOf } from '../helpers/fleet.js';
import { until } from '../helpers/poll.js';
import { shardsHeld, startWorker, tallyInflux } from '../helpers/workers.js';
import { startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';

/**
 * Issue #21 item 2: two split ingest workers (dist/ingest/main.js) share the 16 handoff
 * shards through leases in the registry's PostgreSQL, writing to a real InfluxDB. One is
 * killed with kill -9 under load: the other takes its shards and the broker's queue for
 * them; the killed one, restarted on its own data folder, delivers what its outbox held
 * and takes its share back. Every acknowledged message stored, none twice.
 */

const DEVICES = 6;
const PER_DEVICE = 300;
const INTERVAL_MS = 20;
const SECRET = 'ingest-workers-service-secret';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

let pg: RunningPostgres;
let influx: RunningInfluxd;
const dataDir = mkdtempSync(join(tmpdir(), 'arena-ingest-workers-'));
const running: Service[] = [];
beforeAll(async () => {
  [pg, influx] = await Promise.all([startPostgres(), startInfluxd('workers')]);
});
afterAll(async () => {
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  await Promise.all([pg?.stop(), influx?.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
});

describe('several ingest workers share the handoff shards', () => {
  it('a worker killed under load: the other takes its shards, nothing acknowledged is lost or stored twice, and the shares even out again', {
    timeout: 240_000,
  }, async () => {
    const registryUrl = await pg.newDatabase('workers');
    const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
    const devices = await registerFleetIn(registry, DEVICES, 'WRK');
    await registry.close();
    const ports = { mqtt: await freePort(), ws: await freePort(), a: await freePort(), b: await freePort() };
    const common = { ARENA_REGISTRY_URL: registryUrl, BROKER_SERVICE_SECRET: SECRET, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(ports.mqtt) };
    const track = async (s: Promise<Service>): Promise<Service> => {
      const service = await s;
      running.push(service);
      return service;
    };
    await track(
      startService({
        name: 'broker',
        entry: 'broker/main.js',
        logFile: join(dataDir, 'broker.log'),
        ready: { port: ports.mqtt },
        env: { ...common, ARENA_DATA_DIR: join(dataDir, 'broker-data'), MQTT_WS_PORT: String(ports.ws), LOG_LEVEL: 'warn' },
      }),
    );
    const worker = (name: 'a' | 'b'): Promise<Service> => track(startWorker({ name, dataDir, env: common, influx, httpPort: ports[name] }));
    const stats = async (name: 'a' | 'b'): Promise<{ received: number } | undefined> => {
      const res = await fetch(`http://127.0.0.1:${ports[name]}/stats`).catch(() => undefined);
      return res?.ok ? ((await res.json()) as { received: number }) : undefined;
    };
    const held = (name: 'a' | 'b'): Promise<number> => shardsHeld(ports[name]);

    const a = await worker('a');
    await worker('b');
    await until('the two workers hold 8 shards each', async () => (await held('a')) === 8 && (await held('b')) === 8, 30_000);

    const fleet = fleetOf(ports.mqtt, devices, PER_DEVICE, INTERVAL_MS);
    await fleet.start();
    try {
      await until('a third of the messages acknowledged', () => fleet.acked >= (DEVICES * PER_DEVICE) / 3, 60_000);
      expect((await stats('a'))!.received).toBeGreaterThan(0); // worker a was taking its share
      await a.kill9();
      await until('worker b holds every shard', async () => (await held('b')) === HANDOFF_SHARDS, 30_000);

      // Restarted on its own folder, worker a delivers its outbox, and the shares even out.
      await worker('a');
      await until('the shares even out again', async () => (await held('a')) === 8 && (await held('b')) === 8, 30_000);
      await fleet.drained(120_000);
      expect(fleet.acked).toBe(DEVICES * PER_DEVICE);

      const tally = await tallyInflux(influx, registryUrl, fleet);
      expect(tally).toMatchObject({ acknowledged: DEVICES * PER_DEVICE, stored: DEVICES * PER_DEVICE, lost: 0, storedTwice: 0 });
    } finally {
      await fleet.close();
    }
  });
});
