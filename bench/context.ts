import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, type BenchConfig } from './config.js';
import { Fleet, newCounter, type PhaseRecord, type SimDevice } from './load/generator.js';
import { freePort, startHubChild, type ExitStatus, type HubChild } from './procs.js';
import { cpuOf, cpuShare, memoryOf } from './proc-stats.js';
import { InspectorProfiler } from './profile.js';
import { preparedRegistry } from './seed.js';
import { verifyStoredFile, type FileCheck } from './verify.js';

export interface IngestStatsSnapshot {
  readonly received: number;
  readonly accepted: number;
  readonly rejected: number;
  /** Journaled (PUBACK may go); storedMessages lags it while the journal loads DuckDB. */
  readonly acknowledged?: number;
  readonly storedMessages: number;
  readonly duplicates: number;
  readonly failedMessages: number;
  readonly batches: number;
  readonly largestBatch: number;
}

/** Messages ingest acknowledged between two snapshots (older hubs counted them as stored). */
export const acknowledgedBetween = (before: IngestStatsSnapshot, after: IngestStatsSnapshot): number =>
  (after.acknowledged ?? after.storedMessages) - (before.acknowledged ?? before.storedMessages);

/** The hub under test, seeded, started and with every device connected. */
export interface HubUnderTest {
  readonly hub: HubChild;
  readonly fleet: Fleet;
  readonly devices: readonly SimDevice[];
  readonly clinicianToken: string;
  readonly profiler: InspectorProfiler | undefined;
  readonly setup: {
    readonly registryCached: boolean;
    readonly seedSeconds: number;
    readonly connectSeconds: number;
    readonly rssBeforeConnectMb: number;
    readonly rssIdleMb: number;
  };
}

/** How long a phase waits for the previous one's outstanding acks before it starts. */
const SETTLE_MS = 120_000;

/**
 * State shared by the sections of one run: the hub under test (started on first use
 * and kept for the following sections, since connecting 1,000 devices costs 1,000
 * scrypt checks), facts one section leaves for another, and the run's folders.
 */
export class BenchContext {
  readonly facts: { hubThroughput?: number; hubLoadPeakRssMb?: number; hubLatencyPeakRssMb?: number } = {};
  readonly phases: PhaseRecord[] = [];
  #hub: Promise<HubUnderTest> | undefined;
  #openapi: Promise<Record<string, Record<string, unknown>>> | undefined;
  readonly #keepReasons: string[] = [];

  constructor(
    readonly config: BenchConfig,
    readonly runDir: string,
  ) {
    mkdirSync(runDir, { recursive: true });
  }

  dir(name: string): string {
    const d = join(this.runDir, name);
    mkdirSync(d, { recursive: true });
    return d;
  }

  hub(): Promise<HubUnderTest> {
    return (this.#hub ??= this.#startHub());
  }

  get hubStarted(): boolean {
    return this.#hub !== undefined;
  }

  /**
   * Starts a hub phase: waits until nothing of the previous phase is outstanding (so the
   * ingest counters of this one are its own), then registers the phase's counters.
   */
  async beginPhase(name: string, phase: number): Promise<{ h: HubUnderTest; record: PhaseRecord; before: IngestStatsSnapshot | undefined }> {
    const h = await this.hub();
    await h.fleet.drained(SETTLE_MS);
    const record: PhaseRecord = { name, phase, heartbeats: newCounter(), falls: newCounter() };
    this.phases.push(record);
    return { h, record, before: await this.stats() };
  }

  async stats(): Promise<IngestStatsSnapshot | undefined> {
    const { hub } = await this.hub();
    const r = await hub.api<IngestStatsSnapshot>('/v1/ingest/stats');
    return r.status === 200 ? r.body : undefined;
  }

  /**
   * Waits until the hub under test has finished its own background work (after an
   * overload it loads its journal into DuckDB for a while): below a tenth of a core
   * over half a second, or maxMs. Resolves with the seconds waited (0 when no hub runs).
   */
  async hubQuiet(maxMs = 90_000): Promise<number> {
    if (!this.#hub) return 0;
    const { hub } = await this.#hub;
    const started = performance.now();
    for (;;) {
      const before = cpuOf(hub.pid);
      await sleep(500);
      const share = cpuShare(before, cpuOf(hub.pid), 0.5);
      if (share === null || share.process < 0.1 || performance.now() - started > maxMs) return (performance.now() - started) / 1000;
    }
  }

  /** The hub's OpenAPI paths (public /docs/json): how sections find out what is built. */
  openapiPaths(): Promise<Record<string, Record<string, unknown>>> {
    return (this.#openapi ??= this.hub().then(async ({ hub }) => {
      const r = await hub.api<{ paths?: Record<string, Record<string, unknown>> }>('/docs/json');
      return r.status === 200 && r.body?.paths ? r.body.paths : {};
    }));
  }

  /** Stops the hub (committing what it took) and checks its DuckDB file against what was acked. */
  async finish(): Promise<{ check: FileCheck | { error: string } | undefined; exitCode: ExitStatus | undefined }> {
    if (!this.#hub) return { check: undefined, exitCode: undefined };
    let h: HubUnderTest;
    try {
      h = await this.#hub;
    } catch {
      return { check: undefined, exitCode: undefined };
    }
    h.profiler?.close();
    await h.fleet.close();
    const exitCode = await h.hub.stop();
    const check = await verifyStoredFile(join(this.runDir, 'hub', 'telemetry.duckdb'), this.phases).catch((e: unknown) => ({ error: (e as Error).message }));
    return { check, exitCode };
  }

  /** Keeps the run folder (logs, data files) for a look after the run. */
  keep(reason: string): void {
    this.#keepReasons.push(reason);
  }

  /** Removes the run folder unless --keep or something asked to keep it; says which. */
  cleanUp(): string | undefined {
    if (this.config.keepData || this.#keepReasons.length > 0)
      return `kept ${this.runDir}${this.#keepReasons.length ? ` (${this.#keepReasons.join('; ')})` : ''}`;
    rmSync(this.runDir, { recursive: true, force: true });
    return undefined;
  }

  async #startHub(): Promise<HubUnderTest> {
    const dataDir = this.dir('hub');
    const seeded = await preparedRegistry(dataDir, this.config.devices, join(ROOT, 'data/bench/cache'));
    const inspectPort = this.config.profile ? await freePort() : undefined;
    const hub = await startHubChild({
      dataDir,
      baseEnv: this.config.baseEnv,
      logFile: join(this.runDir, 'hub.log'),
      extraNodeArgs: inspectPort === undefined ? [] : [`--inspect=127.0.0.1:${inspectPort}`],
      env: this.config.hubEnv,
    });
    await sleep(500);
    const rssBeforeConnectMb = memoryOf(hub.pid)?.rssMb ?? NaN;
    // CONNECTs are scrypt-bound in the hub (libuv pool of 4 threads); 16 at a time keeps it busy.
    const { fleet, seconds } = await Fleet.connect({ port: hub.mqttPort, devices: seeded.devices, concurrency: 16 });
    await sleep(2000); // let the connect storm's garbage be collected before the idle reading
    return {
      hub,
      fleet,
      devices: seeded.devices,
      clinicianToken: seeded.clinicianToken,
      profiler: inspectPort === undefined ? undefined : new InspectorProfiler(inspectPort),
      setup: {
        registryCached: seeded.cached,
        seedSeconds: seeded.seconds,
        connectSeconds: seconds,
        rssBeforeConnectMb,
        rssIdleMb: memoryOf(hub.pid)?.rssMb ?? NaN,
      },
    };
  }
}
