import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { heartbeat, PHASES } from '../load/payloads.js';
import { RssSampler } from '../proc-stats.js';
import { acknowledgedBetween } from '../context.js';
import { percentiles } from '../stats.js';
import type { Row, Section, Target } from './types.js';

const RSS: Target = { better: 'lower', goal: 250, limit: 250, on: 'value', unit: 'MB' };
const ZERO: Target = { better: 'lower', goal: 0, limit: 0, on: 'value', unit: 'messages' };
const UP: Target = { better: 'higher', goal: 1, limit: 1, on: 'value', unit: '' };
const HEALTH_EVERY_MS = 250;
const HEALTH_TIMEOUT_MS = 2000;

/**
 * 5. Overload: open-loop publishing at a multiple of the capacity measured in the
 * throughput phase, for a bounded time, then a drain. The hub should stay up, answer
 * its liveness probe, keep its memory bounded and lose nothing it acknowledged.
 */
export const overloadSection: Section = {
  id: 'overload',
  title: 'Overload',
  async run(ctx, config) {
    let capacity = ctx.facts.hubThroughput;
    let capacityNote = 'capacity from the throughput phase';
    if (capacity === undefined) {
      const { h, record } = await ctx.beginPhase('overload capacity probe', PHASES.overload);
      const probe = await h.fleet.closedLoop({
        perDevice: 20,
        window: config.window,
        payload: (id, seq, at) => heartbeat(id, PHASES.overload, 1_000_000 + seq, at),
        timeoutMs: 120_000,
        counter: record.heartbeats,
      });
      capacity = probe.sustainedRate;
      capacityNote = 'capacity from a short probe (throughput section not run)';
    }
    const rate = capacity * config.overloadFactor;
    const { h, record, before } = await ctx.beginPhase('overload', PHASES.overload);
    const rss = new RssSampler(h.hub.pid).start();
    const health = new HealthProbe(h.hub.apiPort).start();
    // With --profile: where the memory is as the offered load ends (near its peak).
    const atPeak =
      h.profiler &&
      sleep(config.overloadSeconds * 1000 - 250)
        .then(() => h.profiler?.memoryUsage())
        .catch(() => undefined);
    const result = await h.fleet.paced({
      rate,
      seconds: config.overloadSeconds,
      drainTimeoutMs: config.drainTimeoutSeconds * 1000,
      payload: (id, seq, at) => heartbeat(id, PHASES.overload, seq, at),
      counter: record.heartbeats,
    });
    const healthResult = await health.stop();
    const mem = rss.stop();
    const alive = h.hub.child.exitCode === null && h.hub.child.signalCode === null;
    if (!alive) ctx.keep('the hub died in the overload');
    const after = alive ? await ctx.stats() : undefined;
    const heap = alive ? { atPeak: await atPeak, asIs: await h.profiler?.memoryUsage(), afterGc: await h.profiler?.memoryUsage({ gc: true }) } : undefined;
    const stored = before && after ? acknowledgedBetween(before, after) : null;

    const rows: Row[] = [
      {
        section: 'overload',
        figure: `offered for ${config.overloadSeconds} s (open loop)`,
        value: result.offeredRate,
        unit: 'msg/s',
        baseline: { label: 'hub capacity', value: capacity },
        note: `${capacityNote}; generator timer lag p99 ${result.tickLagP99Ms.toFixed(1)} ms`,
      },
      {
        section: 'overload',
        figure: 'hub up afterwards (1 = yes)',
        value: alive ? 1 : 0,
        unit: '',
        target: UP,
        note: `${alive ? '' : `the hub exited (${h.hub.child.signalCode ?? `code ${h.hub.child.exitCode}`}; see ${h.hub.logFile}); `}/healthz: ${healthResult.failures} of ${healthResult.probes} probes failed, p99 ${healthResult.p99.toFixed(0)} ms, max ${healthResult.max.toFixed(0)} ms`,
      },
      { section: 'overload', figure: 'hub RSS peak', value: mem.peakMb, unit: 'MB', target: RSS },
      {
        section: 'overload',
        figure: 'acked − acknowledged by ingest (ingest stats)',
        value: stored === null ? null : result.acked - stored,
        unit: 'messages',
        target: ZERO,
        note: `${result.sent} sent, ${result.acked} acked, ${result.outstanding} unacked after a ${result.drainSeconds.toFixed(1)} s drain, ${result.errors} publish errors, ${h.fleet.closedByBroker} connections dropped`,
      },
      ...(heap?.afterGc
        ? [
            {
              section: 'overload' as const,
              figure: 'hub JS heap after the drain, before / after a forced GC (--profile)',
              value: heap.afterGc.heapUsedMb ?? null,
              unit: 'MB',
              note: `${heap.asIs?.heapUsedMb} MB in use before the GC; RSS ${heap.afterGc.rssMb} MB after it; as the offered load ended: ${JSON.stringify(heap.atPeak)}`,
            },
          ]
        : []),
      {
        section: 'overload',
        figure: 'publish → PUBACK p99 while overloaded',
        value: result.latencyMs.p99,
        unit: 'ms',
        note: `p50 ${result.latencyMs.p50.toFixed(0)} ms: the queue the overload builds`,
      },
    ];
    return { rows, details: { capacity, rate, result, health: healthResult, peakRssMb: mem.peakMb, heap, statsBefore: before, statsAfter: after } };
  },
};

/** Polls the hub's liveness route while the overload runs. */
class HealthProbe {
  readonly #times: number[] = [];
  #failures = 0;
  #running = false;
  #loop: Promise<void> | undefined;

  constructor(private readonly port: number) {}

  start(): this {
    this.#running = true;
    this.#loop = (async () => {
      while (this.#running) {
        const t0 = performance.now();
        try {
          const res = await fetch(`http://127.0.0.1:${this.port}/healthz`, { signal: AbortSignal.timeout(HEALTH_TIMEOUT_MS) });
          await res.arrayBuffer();
          if (res.status !== 200) this.#failures++;
        } catch {
          this.#failures++;
        }
        this.#times.push(performance.now() - t0);
        await sleep(HEALTH_EVERY_MS);
      }
    })();
    return this;
  }

  async stop(): Promise<{ probes: number; failures: number; p99: number; max: number }> {
    this.#running = false;
    await this.#loop;
    const [p99, max] = percentiles(Float64Array.from(this.#times), this.#times.length, [99, 100]);
    return { probes: this.#times.length, failures: this.#failures, p99: p99!, max: max! };
  }
}
