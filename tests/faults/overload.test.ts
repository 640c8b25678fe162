import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleet } from '../../soak/arena.js';
import { hubApi, hubPorts, startHubProcess, type HubPorts, type Service } from '../../soak/processes.js';
import { fleetOf, tallyDuckDb } from '../helpers/fleet.js';

/**
 * Backpressure, not collapse (aedes alone overflows its stack under this, issue #193):
 * 40 devices offer ~40 000 messages a second at QoS 1, far more than one DuckDB writer
 * commits, with the per-device rate limit opened wide so the load reaches ingest. The hub
 * must hold acknowledgements back instead of queuing without end, keep its memory
 * bounded, not crash, store everything it acknowledged, and serve normally afterwards.
 */

const DEVICES = 40;
const PER_DEVICE = 2500;
const RSS_LIMIT_MIB = 1024;

let dataDir: string;
let ports: HubPorts;
let hub: Service;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'arena-overload-'));
  ports = await hubPorts();
  hub = await startHubProcess({ dataDir, ports, logFile: join(dataDir, 'hub.log'), env: { MQTT_DEVICE_RATE: '1000000', MQTT_DEVICE_BURST: '1000000' } });
});
afterAll(async () => {
  await hub?.kill9();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Resident memory of a process in MiB, from /proc (Linux). */
const rssMiB = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('an offered load far above capacity', () => {
  it('is slowed down, not queued without end: memory bounded, no crash, nothing lost, and the hub recovers', { timeout: 300_000 }, async () => {
    const api = hubApi(ports.api, dataDir);
    const devices = await registerFleet(api, DEVICES, 'LOAD');
    const fleet = fleetOf(ports.mqtt, devices, PER_DEVICE, 1);
    let maxRss = 0;
    let maxUnacked = 0;
    const watch = setInterval(() => {
      maxRss = Math.max(maxRss, rssMiB(hub.child.pid!));
      maxUnacked = Math.max(maxUnacked, fleet.sent - fleet.acked);
    }, 100);
    try {
      await fleet.start();
      await fleet.drained(240_000);
    } finally {
      clearInterval(watch);
      await fleet.close();
    }
    expect(hub.child.exitCode).toBeNull(); // still running

    // Recovered: a new device session is served at once.
    const [d] = devices as [(typeof devices)[0]];
    const after = await mqtt.connectAsync(`mqtt://127.0.0.1:${ports.mqtt}`, {
      username: d.deviceId,
      password: d.secret,
      clientId: 'after-load',
      reconnectPeriod: 0,
    });
    await after.publishAsync(`devices/${d.deviceId}/measurements`, '{"not":"a weight"}', { qos: 1 });
    await after.endAsync();

    expect(await hub.stop()).toBe(0);
    const t = await tallyDuckDb(dataDir, fleet);
    console.log(
      `[overload] offered ${t.sent} at ~${DEVICES * 1000}/s, acknowledged ${t.acknowledged}, stored ${t.stored}, lost ${t.lost}; hub RSS at most ${Math.round(maxRss)} MiB; at most ${maxUnacked} messages waiting for their PUBACK`,
    );
    expect(t.lost).toBe(0);
    expect(t.storedTwice).toBe(0);
    expect(t.stored).toBe(DEVICES * PER_DEVICE);
    expect(maxRss).toBeLessThan(RSS_LIMIT_MIB);
    // Acknowledgements were held back: devices had to wait with messages unacknowledged.
    expect(maxUnacked).toBeGreaterThan(DEVICES);
  });
});
