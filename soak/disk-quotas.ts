import '../kernel/runtime.js';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import { registerFleet } from './arena.js';
import { tallyStore } from './count.js';
import { Fleet, messageOf, TOPIC } from './fleet.js';
import { hubApi, hubPorts, startHubProcess } from './processes.js';

/**
 * The figures of issue 25, with the real all-in-one hub (dist/hub/main.js) as a child
 * process and its default settings unless said:
 *
 *   node dist/soak/disk-quotas.js flood [--seconds 45] [--flooders 0|1]
 *     one device publishes invalid 60 KB messages as fast as the broker takes them while
 *     a neighbour publishes a valid one every 50 ms; prints the data folder's growth and
 *     the neighbour's PUBACK latency (p50, p99); --flooders 0 measures the neighbour alone.
 *   node dist/soak/disk-quotas.js full-disk [--devices 50] [--mb 48]   (as root: mounts a tmpfs)
 *     the data folder on a small filesystem, devices publishing valid QoS 1 messages
 *     until the hub stops acknowledging; space is freed and the hub resumes; prints
 *     acknowledged against stored.
 */
const { positionals, values: args } = parseArgs({
  allowPositionals: true,
  options: {
    seconds: { type: 'string', default: '45' },
    devices: { type: 'string', default: '50' },
    mb: { type: 'string', default: '48' },
    // 0: the neighbour alone, for a baseline on the same machine.
    flooders: { type: 'string', default: '1' },
  },
});
const MB = 1e6;
const MiB = 1024 * 1024;

const folderBytes = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);

const quantile = (sorted: readonly number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

async function flood(seconds: number, withFlooder: boolean): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'arena-flood-'));
  const ports = await hubPorts();
  const hub = await startHubProcess({ dataDir, ports, logFile: join(dataDir, 'hub.log'), env: { LOG_LEVEL: 'info' } });
  try {
    const api = hubApi(ports.api, dataDir);
    const [flooder, steady] = await registerFleet(api, 2, 'FLOOD');
    const url = `mqtt://127.0.0.1:${ports.mqtt}`;
    const before = folderBytes(dataDir);

    const f = mqtt.connect(url, { username: flooder!.deviceId, password: flooder!.secret, clientId: flooder!.deviceId, reconnectPeriod: 500 });
    f.on('error', () => undefined);
    const big = `not json ${randomBytes(30_000).toString('hex')}`;
    let floodAcked = 0;
    let floodSent = 0;
    let flooding = withFlooder;
    // As fast as the broker takes them: 100 unacknowledged at a time.
    const pump = (): void => {
      if (!flooding) return;
      floodSent++;
      f.publish(TOPIC(flooder!.deviceId), big, { qos: 1 }, (err) => {
        if (!err) floodAcked++;
        setImmediate(pump);
      });
    };
    await new Promise<void>((r) => f.once('connect', () => r()));
    for (let i = 0; i < 100; i++) pump();
    if (!withFlooder) f.end(true);

    const s = mqtt.connect(url, { username: steady!.deviceId, password: steady!.secret, clientId: steady!.deviceId });
    await new Promise<void>((r) => s.once('connect', () => r()));
    const latencies: number[] = [];
    const baseTime = Date.now() - 3_600_000;
    const end = Date.now() + seconds * 1000;
    for (let seq = 0; Date.now() < end; seq++) {
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) =>
        s.publish(TOPIC(steady!.deviceId), messageOf(steady!.deviceId, seq, { baseTime }), { qos: 1 }, (e) => (e ? reject(e) : resolve())),
      );
      latencies.push(performance.now() - t0);
      await sleep(Math.max(0, 50 - (performance.now() - t0)));
    }
    flooding = false;
    const stats = (await api<{ quota?: unknown; rejected: number }>('/v1/ingest/stats')).body;
    f.end(true);
    s.end();
    await hub.stop();
    const grown = folderBytes(dataDir) - before;
    latencies.sort((a, b) => a - b);
    console.log(`flood ${seconds} s: flooder sent ${floodSent} invalid 60 KB messages, ${floodAcked} acknowledged; ingest rejected ${stats.rejected}`);
    console.log(`data folder grew by ${(grown / MB).toFixed(1)} MB`);
    console.log(
      `neighbour: ${latencies.length} messages, PUBACK p50 ${quantile(latencies, 0.5).toFixed(1)} ms, p99 ${quantile(latencies, 0.99).toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`,
    );
    console.log(`quota: ${JSON.stringify(stats.quota)}`);
  } finally {
    await hub.kill9();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function fullDisk(devices: number, mb: number): Promise<void> {
  const mount = mkdtempSync(join(tmpdir(), 'arena-fulldisk-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mb * MiB}`, 'tmpfs', mount]);
  const logDir = mkdtempSync(join(tmpdir(), 'arena-fulldisk-log-'));
  const dataDir = join(mount, 'data');
  mkdirSync(dataDir);
  const ports = await hubPorts();
  // Marks scaled to the small disk (the defaults suit a real one).
  const env = { ARENA_DISK_HARD_MIN_BYTES: String(8 * MiB), ARENA_DISK_SOFT_MIN_BYTES: String(16 * MiB), ARENA_DISK_CHECK_MS: '200' };
  const hub = await startHubProcess({ dataDir, ports, logFile: join(logDir, 'hub.log'), env });
  let fleet: Fleet | undefined;
  try {
    const fleetDevices = await registerFleet(hubApi(ports.api, dataDir), devices, 'FULL');
    const perDevice = 2000;
    fleet = new Fleet({
      url: `mqtt://127.0.0.1:${ports.mqtt}`,
      devices: fleetDevices,
      messagesPerDevice: perDevice,
      intervalMs: 20,
      baseTime: Date.now() - 3_600_000,
    });
    // Fill most of the disk with a ballast so that the fleet fills the rest in a minute or so.
    const free = (): number => {
      const s = statfsSync(mount);
      return s.bavail * s.bsize;
    };
    writeFileSync(join(mount, 'ballast'), Buffer.alloc(Math.max(0, free() - 16 * MiB)));
    await fleet.start();
    const readyz = async (): Promise<{ status: number; detail?: string }> => {
      try {
        const res = await fetch(`http://127.0.0.1:${ports.api}/readyz`, { signal: AbortSignal.timeout(5000) });
        return { status: res.status, ...((await res.json()) as { detail?: string }) };
      } catch (e) {
        return { status: 0, detail: (e as Error).message };
      }
    };
    const diskFull = (r: { status: number; detail?: string }): boolean => r.status === 503 && /disk/.test(r.detail ?? '');
    let r = await readyz();
    while (!diskFull(r) && fleet.sent < devices * perDevice) {
      await sleep(100);
      r = await readyz();
    }
    const ackedWhenStopped = fleet.acked;
    console.log(`stopped: /readyz ${r.status} "${r.detail}"; ${ackedWhenStopped} acknowledged so far, ${(free() / MiB).toFixed(1)} MiB free`);
    await sleep(3000);
    console.log(`3 s later: ${fleet.acked} acknowledged`);
    rmSync(join(mount, 'ballast'));
    while (diskFull(await readyz())) await sleep(100);
    console.log('space freed: ready again');
    await fleet.drained(600_000);
    await hub.stop();
    const store = await openDuckDbTelemetryStore({ path: join(dataDir, 'telemetry.duckdb') });
    try {
      const t = await tallyStore(store, fleet.tallies);
      console.log(
        `full disk (${mb} MB tmpfs, ${devices} devices): acknowledged ${t.acknowledged}, stored ${t.stored}, lost ${t.lost}, stored twice ${t.storedTwice}, resent ${t.resent}`,
      );
      if (t.lost > 0 || t.storedTwice > 0) process.exitCode = 1;
    } finally {
      await store.close();
    }
  } finally {
    await fleet?.close();
    await hub.kill9();
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
  }
}

const mode = positionals[0];
if (mode === 'flood') await flood(Number(args.seconds), args.flooders !== '0');
else if (mode === 'full-disk') await fullDisk(Number(args.devices), Number(args.mb));
else {
  console.error('usage: node dist/soak/disk-quotas.js flood [--seconds 45] | full-disk [--devices 50] [--mb 48]');
  process.exitCode = 2;
}
