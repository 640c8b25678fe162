import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT } from './config.js';
import { Fleet, newCounter } from './load/generator.js';
import { heartbeat } from './load/payloads.js';
import { cpuDelta, cpuOf, RssSampler } from './proc-stats.js';
import { startHubChild } from './procs.js';
import { preparedRegistry } from './seed.js';

/** The heartbeats' phase number (bench/load/payloads.ts PHASES holds the hub sections' own). */
const HISTORY_PHASE = 5;
const DEVICES = 200;

export interface HubRun {
  /** From spawn to /readyz 200: opening the store and the alarm engine's start-up replay. */
  readonly readySeconds: number;
  readonly acked: number;
  readonly sent: number;
  readonly pubackP50Ms: number;
  readonly pubackP99Ms: number;
  readonly peakRssMb: number;
  readonly cpuUsPerMessage: number;
}

/**
 * The all-in-one hub started on a data folder whose telemetry.duckdb already holds a
 * history (bench/history-store.ts --keep leaves it there), 200 devices publishing QoS 1
 * heartbeats at a paced rate: PUBACK latency, RSS and CPU per message, and how long the
 * hub takes to become ready on that history.
 */
export async function hubWithHistory(opts: {
  readonly dataDir: string;
  readonly runDir: string;
  readonly memoryLimit: string;
  readonly rate: number;
  readonly seconds: number;
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
}): Promise<HubRun> {
  for (const f of ['week.parquet', 'points.parquet']) rmSync(join(opts.dataDir, f), { force: true });
  const seeded = await preparedRegistry(opts.dataDir, DEVICES, join(ROOT, 'data/bench/cache'));
  const started = performance.now();
  const hub = await startHubChild({
    dataDir: opts.dataDir,
    baseEnv: opts.baseEnv,
    logFile: join(opts.runDir, 'hub-history.log'),
    env: { ARENA_DUCKDB_MEMORY_LIMIT: opts.memoryLimit },
    startTimeoutMs: 30 * 60_000,
  });
  try {
    while ((await hub.api('/readyz')).status !== 200) await sleep(100);
    const readySeconds = (performance.now() - started) / 1000;
    const { fleet } = await Fleet.connect({ port: hub.mqttPort, devices: seeded.devices, concurrency: 16 });
    const rss = new RssSampler(hub.pid).start();
    const cpu0 = cpuOf(hub.pid);
    const result = await fleet.paced({
      rate: opts.rate,
      seconds: opts.seconds,
      warmupSeconds: 2,
      drainTimeoutMs: 120_000,
      payload: (id, seq, at) => heartbeat(id, HISTORY_PHASE, seq, at),
      counter: newCounter(),
    });
    const cpu = cpuDelta(cpu0, cpuOf(hub.pid));
    const mem = rss.stop();
    await fleet.close();
    return {
      readySeconds: Math.round(readySeconds * 10) / 10,
      acked: result.acked,
      sent: result.sent,
      pubackP50Ms: result.latencyMs.p50,
      pubackP99Ms: result.latencyMs.p99,
      peakRssMb: mem.peakMb,
      cpuUsPerMessage: cpu ? Math.round((cpu.process * 1e6) / Math.max(1, result.acked)) : Number.NaN,
    };
  } finally {
    await hub.stop();
  }
}
