import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { findLiveRoute, openLive, type LiveStream } from '../live.js';
import { fall, heartbeat, PHASES } from '../load/payloads.js';
import { RssSampler } from '../proc-stats.js';
import { percentiles } from '../stats.js';
import { storeOp, type WriteReply } from '../store-ops.js';
import { WARD_DEVICES } from '../seed.js';
import { notBuilt, type Row, type Section, type Target } from './types.js';

const COMMIT_P99: Target = { better: 'lower', goal: 10, limit: 25, on: 'value', unit: 'ms' };
const FALL_P99: Target = { better: 'lower', goal: 50, limit: 100, on: 'value', unit: 'ms' };
const FLOOR_WRITES = 200;
const MIN_SAMPLES = 20;
/** A fall not on the live feed by then counts as missed. */
const FALL_GIVE_UP_MS = 5000;
/** The SSE event name that carries the fall point itself (api/routes/live.ts). */
const FALL_EVENT = 'event';
/** Event names timed: the fall, and the alarm it raises. (A heartbeat `reading` of the same millisecond would match falsely.) */
const TIMED_EVENTS = new Set([FALL_EVENT, 'alarm']);

/**
 * 2. Latency at a fixed offered rate: publish() → PUBACK, which the hub sends only after
 * the commit; and, while that load runs, a fall event → the ward board's live event.
 */
export const latencySection: Section = {
  id: 'latency',
  title: 'Latency',
  async run(ctx, config) {
    // The floors: one message per write, one at a time, each in a process of its own:
    // through the hub's journal (its PUBACK point), and into DuckDB alone (what a PUBACK
    // after a DuckDB commit would wait for).
    const floor = await storeOp<WriteReply>(
      { op: 'write', path: join(ctx.dir('store'), 'floor-journal'), batch: 1, batches: FLOOR_WRITES, journal: true },
      config.baseEnv,
    );
    const duckdbFloor = await storeOp<WriteReply>(
      { op: 'write', path: join(ctx.dir('store'), 'floor.duckdb'), batch: 1, batches: FLOOR_WRITES },
      config.baseEnv,
    );
    const { h, record, before } = await ctx.beginPhase('latency', PHASES.latency);
    const route = findLiveRoute(await ctx.openapiPaths());
    const live = route ? await openLive(h.hub.apiPort, h.clinicianToken, route) : ({ ok: false, why: 'not built yet' } as const);
    const probe = live.ok
      ? new FallProbe(
          live.stream,
          h.devices.slice(0, WARD_DEVICES).map((d) => d.id),
        )
      : undefined;

    const rss = new RssSampler(h.hub.pid).start();
    const result = await h.fleet.paced({
      rate: config.latencyRate,
      seconds: config.latencySeconds,
      warmupSeconds: 1,
      drainTimeoutMs: config.drainTimeoutSeconds * 1000,
      payload: (id, seq, at) => heartbeat(id, PHASES.latency, seq, at),
      // Falls go out on the fall devices' own connections, next to their heartbeats.
      onTick: probe ? (elapsed) => probe.tick(elapsed, config.fallRate, (id, payload) => h.fleet.publishOne(id, payload, record.falls)) : undefined,
      counter: record.heartbeats,
    });
    await probe?.settle();
    const streamEnded = live.ok ? live.stream.endedAfterS : undefined;
    probe?.close();
    const mem = rss.stop();
    ctx.facts.hubLatencyPeakRssMb = mem.peakMb;
    const after = await ctx.stats();

    const lat = result.latencyMs;
    const rows: Row[] = [
      {
        section: 'latency',
        figure: `offered rate (target ${config.latencyRate} msg/s)`,
        value: result.offeredRate,
        unit: 'msg/s',
        note: `${result.acked}/${result.sent} acked, ${result.errors} errors, generator timer lag p99 ${result.tickLagP99Ms.toFixed(1)} ms`,
      },
      { section: 'latency', figure: 'publish → committed (PUBACK) p50', value: lat.p50, unit: 'ms' },
      {
        section: 'latency',
        figure: 'publish → committed (PUBACK) p99',
        value: lat.p99,
        unit: 'ms',
        baseline: { label: 'journal write of 1 message alone, p99', value: floor.p99WriteMs },
        target: COMMIT_P99,
        note: `p90 ${lat.p90.toFixed(1)} ms, p99.9 ${lat.p999.toFixed(1)} ms, max ${lat.max.toFixed(1)} ms over ${lat.samples} messages`,
      },
      {
        section: 'latency',
        figure: 'journal write of 1 message alone (floor), p50',
        value: floor.medianWriteMs,
        unit: 'ms',
        note: `p99 ${floor.p99WriteMs.toFixed(1)} ms over ${FLOOR_WRITES} sequential writes in a separate process: one O_DSYNC append each, DuckDB loaded behind`,
      },
      {
        section: 'latency',
        figure: 'DuckDB store.write of 1 message alone, p50',
        value: duckdbFloor.medianWriteMs,
        unit: 'ms',
        note: `p99 ${duckdbFloor.p99WriteMs.toFixed(1)} ms over ${FLOOR_WRITES} sequential writes in a separate process: one DuckDB transaction each (the PUBACK point before the journal)`,
      },
    ];
    if (probe) {
      const f = probe.result();
      const fell = f.byEvent[FALL_EVENT];
      rows.push(
        fell
          ? {
              section: 'latency',
              figure: `fall → live '${FALL_EVENT}' p99 (${live.ok ? live.stream.path : ''})`,
              value: fell.p99,
              unit: 'ms',
              target: FALL_P99,
              note: `p50 ${fell.p50.toFixed(1)} ms over ${fell.samples} of ${f.sent} falls, ${f.missed} missed, under the ${config.latencyRate} msg/s load${ended(streamEnded)}`,
            }
          : notBuilt(
              'latency',
              'fall → live event p99',
              'ms',
              `the live feed gave no matching '${FALL_EVENT}' for ${f.sent} falls${ended(streamEnded)}`,
              FALL_P99,
            ),
      );
      for (const [event, e] of Object.entries(f.byEvent)) {
        // A p99 of a handful says nothing; those stay in the JSON details.
        if (event === FALL_EVENT || e.samples < MIN_SAMPLES) continue;
        rows.push({
          section: 'latency',
          figure: `fall → live '${event}' p99`,
          value: e.p99,
          unit: 'ms',
          note: `p50 ${e.p50.toFixed(1)} ms over ${e.samples} falls: only those whose ${event} names the fall's device time (an open alarm is not raised again)`,
        });
      }
    } else {
      rows.push(notBuilt('latency', 'fall → live event p99', 'ms', live.ok ? 'not built yet' : live.why, FALL_P99));
    }
    return {
      rows,
      details: { floor, duckdbFloor, result, peakRssMb: mem.peakMb, falls: probe?.result(), streamEnded, statsBefore: before, statsAfter: after },
    };
  },
};

const ended = (afterS: number | undefined): string => (afterS === undefined ? '' : `; the hub ended the stream after ${afterS.toFixed(1)} s`);

/**
 * Publishes falls at a fixed rate, one outstanding per device, and times each until a
 * live event names its device and its device time (epoch ms or ISO 8601), per event
 * name: the fall itself (`event`) and, if the stream sends one that can be matched,
 * the alarm it raises.
 */
class FallProbe {
  /** The last fall of each device; `busy` until its own event arrived (or gave up). */
  readonly #falls = new Map<string, { t0: number; keys: string[]; seen: Set<string>; busy: boolean }>();
  readonly #samples = new Map<string, number[]>();
  readonly #lastAt = new Map<string, number>();
  #due = 0;
  #sent = 0;
  #rr = 0;
  #missed = 0;

  constructor(
    private readonly stream: LiveStream,
    private readonly devices: readonly string[],
  ) {
    stream.onData((data, event) => {
      const now = performance.now();
      if (!TIMED_EVENTS.has(event)) return;
      for (const [id, f] of this.#falls) {
        if (f.seen.has(event) || !data.includes(id) || !f.keys.some((k) => data.includes(k))) continue;
        f.seen.add(event);
        if (event === FALL_EVENT) f.busy = false;
        const list = this.#samples.get(event) ?? [];
        list.push(now - f.t0);
        this.#samples.set(event, list);
      }
    });
  }

  tick(elapsedS: number, rate: number, publish: (id: string, payload: string) => Promise<number>): void {
    const now = performance.now();
    for (const f of this.#falls.values()) {
      if (f.busy && now - f.t0 > FALL_GIVE_UP_MS) {
        this.#missed++;
        f.busy = false;
      }
    }
    const due = Math.floor(elapsedS * rate) - this.#due;
    for (let i = 0; i < due; i++) {
      this.#due++;
      const id = this.devices[this.#rr++ % this.devices.length]!;
      if (this.#falls.get(id)?.busy) continue; // still waiting for this device's last fall
      this.#sent++;
      const at = Math.max(Date.now(), (this.#lastAt.get(id) ?? 0) + 1);
      this.#lastAt.set(id, at);
      this.#falls.set(id, { t0: performance.now(), keys: [String(at), new Date(at).toISOString()], seen: new Set(), busy: true });
      // A failed publish is counted by the phase counter; its fall times out as missed.
      publish(id, fall(id, at)).catch(() => undefined);
    }
  }

  /** Waits (briefly) for the last falls to show up. */
  async settle(): Promise<void> {
    for (let i = 0; i < 20 && [...this.#falls.values()].some((f) => f.busy); i++) await sleep(100);
  }

  close(): void {
    for (const f of this.#falls.values()) if (f.busy) this.#missed++;
    this.#falls.clear();
    this.stream.close();
  }

  result(): { sent: number; missed: number; byEvent: Record<string, { samples: number; p50: number; p99: number; max: number }> } {
    const byEvent: Record<string, { samples: number; p50: number; p99: number; max: number }> = {};
    for (const [event, list] of this.#samples) {
      const [p50, p99, max] = percentiles(Float64Array.from(list), list.length, [50, 99, 100]);
      byEvent[event] = { samples: list.length, p50: p50!, p99: p99!, max: max! };
    }
    return { sent: this.#sent, missed: this.#missed, byEvent };
  }
}
