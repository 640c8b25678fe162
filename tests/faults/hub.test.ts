import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { registerFleet } from '../../soak/arena.js';
import type { Fleet } from '../../soak/fleet.js';
import { hubApi, hubPorts, startHubProcess, type HubPorts, type Service } from '../../soak/processes.js';
import { fleetOf, tallyDuckDb } from '../helpers/fleet.js';
import { until } from '../helpers/poll.js';

/**
 * Promise 1 with the real hub (dist/hub/main.js) as a child process: devices publish at
 * QoS 1 with their own outgoing queues while the hub is killed (SIGKILL: no shutdown code
 * runs) or stopped (SIGTERM); after a restart every message a device saw acknowledged is
 * in the store exactly once. Counts are printed for the record; the assertions are on
 * counts only, never on timing.
 */

const DEVICES = 6;
const PER_DEVICE = 300;
const INTERVAL_MS = 20; // 50 messages/s per device, within the default publish rate

let dataDir: string;
let hub: Service | undefined;
let fleet: Fleet | undefined;
afterEach(async () => {
  await fleet?.close();
  await hub?.kill9();
  fleet = undefined;
  hub = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

async function setUp(): Promise<{ ports: HubPorts; start: () => Promise<Service> }> {
  dataDir = mkdtempSync(join(tmpdir(), 'arena-fault-'));
  const ports = await hubPorts();
  const logFile = join(dataDir, 'hub.log');
  const start = async (): Promise<Service> => (hub = await startHubProcess({ dataDir, ports, logFile }));
  await start();
  const devices = await registerFleet(hubApi(ports.api, dataDir), DEVICES, 'FAULT');
  fleet = fleetOf(ports.mqtt, devices, PER_DEVICE, INTERVAL_MS);
  await fleet.start();
  return { ports, start };
}

/** Waits until the fleet has sent, or seen acknowledged, at least `n` messages in all. */
const sentAtLeast = (n: number) => until(`${n} messages sent`, () => fleet!.sent >= n, 120_000);
const ackedAtLeast = (n: number) => until(`${n} messages acknowledged`, () => fleet!.acked >= n, 120_000);

describe('the all-in-one hub under faults', () => {
  it('kill -9 twice while devices publish: every acknowledged message is stored exactly once', { timeout: 180_000 }, async () => {
    const { start } = await setUp();
    const total = DEVICES * PER_DEVICE;
    const ackedAtKill: number[] = [];
    const killAndRestart = async (): Promise<void> => {
      ackedAtKill.push(fleet!.acked);
      const reconnects = fleet!.tallies.map((t) => t.reconnects);
      await hub!.kill9();
      // Devices see the connection go, and queue what they publish meanwhile.
      await until('every device tries to reconnect', () => fleet!.tallies.every((t, i) => t.reconnects > reconnects[i]!));
      await start();
    };
    await sentAtLeast(total / 4);
    await killAndRestart();
    // The second kill comes once the devices are back and being acknowledged again.
    await ackedAtLeast(ackedAtKill[0]! + total / 10);
    await killAndRestart();
    await fleet!.drained(120_000);
    expect(await hub!.stop()).toBe(0);

    const t = await tallyDuckDb(dataDir, fleet!);
    console.log(
      `[kill -9] sent ${t.sent}, acknowledged ${t.acknowledged} (${ackedAtKill.join(' and ')} when killed), stored ${t.stored}, resent ${t.resent}, stored twice ${t.storedTwice}, lost ${t.lost}`,
    );
    expect(t.lost, `acknowledged but not stored: ${t.lostExamples.join(', ')}`).toBe(0);
    expect(t.storedTwice).toBe(0);
    expect(t.acknowledged).toBe(total);
    expect(t.stored).toBe(total);
    expect(ackedAtKill[0]).toBeGreaterThan(0);
    expect(ackedAtKill[1]).toBeGreaterThan(ackedAtKill[0]!);
  });

  it('SIGTERM while devices publish: a graceful stop (exit 0) that loses nothing, then a restart', { timeout: 180_000 }, async () => {
    const { start } = await setUp();
    await sentAtLeast((DEVICES * PER_DEVICE) / 3);
    expect(await hub!.stop()).toBe(0);
    await start();
    await fleet!.drained(120_000);
    expect(await hub!.stop()).toBe(0);

    const t = await tallyDuckDb(dataDir, fleet!);
    console.log(`[SIGTERM] sent ${t.sent}, acknowledged ${t.acknowledged}, stored ${t.stored}, resent ${t.resent}, lost ${t.lost}`);
    expect(t.lost).toBe(0);
    expect(t.storedTwice).toBe(0);
    expect(t.stored).toBe(DEVICES * PER_DEVICE);
  });
});
