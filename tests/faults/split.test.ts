import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { registerFleetIn } from '../../soak/arena.js';
import type { Tally } from '../../soak/count.js';
import type { Fleet } from '../../soak/fleet.js';
import { freePort, splitLayout, type Service } from '../../soak/processes.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { fleetOf, tallyDuckDb } from '../helpers/fleet.js';
import { until } from '../helpers/poll.js';

/**
 * Promise 1 in the split layout (dist/broker/main.js and dist/ingest/main.js as child
 * processes, the registry in a real PostgreSQL): ingest acknowledges to the broker only
 * after its commit, and the broker keeps ingest's queue in LevelDB, so killing either
 * service loses nothing a device saw acknowledged.
 */

const DEVICES = 4;
const PER_DEVICE = 300;
const INTERVAL_MS = 20;
const SECRET = 'split-layout-service-secret';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

let pg: RunningPostgres;
beforeAll(async () => {
  pg = await startPostgres();
});
afterAll(async () => pg?.stop());

let dataDir: string;
const running: Service[] = [];
let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  fleet = undefined;
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  rmSync(dataDir, { recursive: true, force: true });
});

async function setUp(prefix: string) {
  dataDir = mkdtempSync(join(tmpdir(), 'arena-split-fault-'));
  const registryUrl = await pg.newDatabase('split');
  const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
  const devices = await registerFleetIn(registry, DEVICES, prefix);
  await registry.close();
  const ports = { mqtt: await freePort(), ws: await freePort(), ingestHttp: await freePort() };
  const layout = splitLayout({ dataDir, registryUrl, ports, serviceSecret: SECRET });
  const track = async (start: () => Promise<Service>): Promise<Service> => {
    const s = await start();
    running.push(s);
    return s;
  };
  const services = {
    broker: await track(layout.startBroker),
    ingest: await track(layout.startIngest),
  };
  fleet = fleetOf(ports.mqtt, devices, PER_DEVICE, INTERVAL_MS);
  await fleet.start();
  const restart = async (name: 'broker' | 'ingest'): Promise<void> => {
    services[name] = await track(name === 'broker' ? layout.startBroker : layout.startIngest);
  };
  return {
    services,
    restart,
    /**
     * Once every message is acknowledged and ingest has taken everything the broker held
     * for it, stops both gracefully (exit 0) and counts the store against the devices.
     */
    finish: async (): Promise<Tally> => {
      await fleet!.drained(120_000);
      // Idle is judged from outside, so it is confirmed from the broker's own LevelDB once
      // both have stopped; anything still queued there is delivered by another round.
      for (let round = 1; ; round++) {
        await layout.ingestIdle(3000);
        expect(await services.ingest.stop()).toBe(0);
        expect(await services.broker.stop()).toBe(0);
        const queued = await layout.queuedForIngest();
        if (queued.length === 0) break;
        console.log(`[split] round ${round}: still queued for ingest:\n  ${queued.join('\n  ')}`);
        expect(round, `${queued.length} messages still queued for ingest after ${round} rounds`).toBeLessThan(3);
        await restart('broker');
        await restart('ingest');
      }
      return tallyDuckDb(layout.ingestDataDir, fleet!);
    },
  };
}

const total = DEVICES * PER_DEVICE;

function expectNothingLost(label: string, t: Tally): void {
  console.log(
    `[${label}] sent ${t.sent}, acknowledged ${t.acknowledged}, stored ${t.stored}, resent ${t.resent}, stored twice ${t.storedTwice}, lost ${t.lost}`,
  );
  expect(t.lost, `acknowledged but not stored: ${t.lostExamples.join(', ')}`).toBe(0);
  expect(t.storedTwice).toBe(0);
  expect(t.acknowledged).toBe(total);
  expect(t.stored).toBe(total);
}

describe('the split layout under faults', () => {
  it('kill -9 of ingest, twice, while devices publish', { timeout: 240_000 }, async () => {
    const { services, restart, finish } = await setUp('KILLI');
    await until('a quarter of the messages sent', () => fleet!.sent >= total / 4, 120_000);
    await services.ingest.kill9();
    // The broker queues for ingest's session meanwhile and devices keep getting PUBACKs.
    const acked = fleet!.acked;
    await until('50 more acknowledged', () => fleet!.acked >= acked + 50, 120_000);
    await restart('ingest');
    await until('two thirds of the messages sent', () => fleet!.sent >= (total * 2) / 3, 120_000);
    await services.ingest.kill9();
    await restart('ingest');
    expectNothingLost('split: kill -9 ingest', await finish());
  });

  it('kill -9 of the broker while devices publish: its LevelDB queue survives', { timeout: 240_000 }, async () => {
    const { services, restart, finish } = await setUp('KILLB');
    await until('a third of the messages sent', () => fleet!.sent >= total / 3, 120_000);
    const reconnects = fleet!.tallies.map((t) => t.reconnects);
    await services.broker.kill9();
    await until('every device tries to reconnect', () => fleet!.tallies.every((t, i) => t.reconnects > reconnects[i]!));
    await restart('broker');
    expectNothingLost('split: kill -9 broker', await finish());
  });

  it('SIGTERM of ingest: it finishes its commits, acknowledges them, exits 0', { timeout: 240_000 }, async () => {
    const { services, restart, finish } = await setUp('TERMI');
    await until('a third of the messages sent', () => fleet!.sent >= total / 3, 120_000);
    expect(await services.ingest.stop()).toBe(0);
    await restart('ingest');
    expectNothingLost('split: SIGTERM ingest', await finish());
  });
});
