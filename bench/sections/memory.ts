import { heartbeat, PHASES } from '../load/payloads.js';
import { memoryOf, RssSampler } from '../proc-stats.js';
import type { Row, Section, Target } from './types.js';

const RSS: Target = { better: 'lower', goal: 250, limit: 250, on: 'value', unit: 'MB' };

/**
 * 4. Memory of the hub process (VmRSS from /proc): with every device connected and
 * idle, and at its peak under the earlier load phases (or a short load of its own when
 * those did not run).
 */
export const memorySection: Section = {
  id: 'memory',
  title: 'Memory',
  async run(ctx, config) {
    const h = await ctx.hub();
    const n = config.devices;
    const { rssBeforeConnectMb: before, rssIdleMb: idle } = h.setup;
    const rows: Row[] = [
      { section: 'memory', figure: 'hub RSS, started, no device connected', value: before, unit: 'MB' },
      {
        section: 'memory',
        figure: `hub RSS, ${n} devices connected, idle`,
        value: idle,
        unit: 'MB',
        target: RSS,
        note: `${(((idle - before) * 1024) / n).toFixed(0)} kB per connection; ${n} CONNECTs took ${h.setup.connectSeconds.toFixed(1)} s (${Math.round(n / h.setup.connectSeconds)}/s, scrypt-bound)`,
      },
    ];
    let own: unknown;
    if (ctx.facts.hubLoadPeakRssMb === undefined && ctx.facts.hubLatencyPeakRssMb === undefined) {
      const { record } = await ctx.beginPhase('memory', PHASES.memory);
      const rss = new RssSampler(h.hub.pid).start();
      const r = await h.fleet.paced({
        rate: config.latencyRate,
        seconds: config.latencySeconds,
        drainTimeoutMs: config.drainTimeoutSeconds * 1000,
        payload: (id, seq, at) => heartbeat(id, PHASES.memory, seq, at),
        counter: record.heartbeats,
      });
      ctx.facts.hubLatencyPeakRssMb = rss.stop().peakMb;
      own = r;
    }
    if (ctx.facts.hubLoadPeakRssMb !== undefined) {
      rows.push({
        section: 'memory',
        figure: `hub RSS peak, throughput phase (window ${config.window}/connection)`,
        value: ctx.facts.hubLoadPeakRssMb,
        unit: 'MB',
        target: RSS,
      });
    }
    if (ctx.facts.hubLatencyPeakRssMb !== undefined) {
      rows.push({ section: 'memory', figure: `hub RSS peak at ${config.latencyRate} msg/s`, value: ctx.facts.hubLatencyPeakRssMb, unit: 'MB', target: RSS });
    }
    const heap = await h.profiler?.memoryUsage({ gc: true });
    if (heap) {
      rows.push({
        section: 'memory',
        figure: 'hub JS heap in use after a forced GC (--profile)',
        value: heap.heapUsedMb ?? null,
        unit: 'MB',
        note: `RSS then ${heap.rssMb} MB: the rest is outside the JS heap (DuckDB, sockets, code)`,
      });
    }
    return { rows, details: { setup: h.setup, now: memoryOf(h.hub.pid), heap, ownLoad: own } };
  },
};
