import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { mosquitto, rawAedes, runBaseline, type BaselineRun } from '../baselines.js';
import { heartbeat, PHASES } from '../load/payloads.js';
import { RssSampler, cpuDelta, cpuOf, type CpuTimes } from '../proc-stats.js';
import { printProfile, type ProfileSummary } from '../profile.js';
import { deviceIdOf } from '../seed.js';
import { acknowledgedBetween } from '../context.js';
import { storeOp, type WriteReply } from '../store-ops.js';
import type { Row, Section, Target } from './types.js';

const RATIO: Target = { better: 'higher', goal: 1.0, limit: 0.8, on: 'ratio', unit: '×' };
const ZERO: Target = { better: 'lower', goal: 0, limit: 0, on: 'value', unit: 'messages' };
/** Group commit's default batch (ingest/config.ts INGEST_MAX_BATCH). */
const DEFAULT_MAX_BATCH = 2000;

const mosquittoBinary = (): string | undefined => ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto'].find((p) => existsSync(p));

/**
 * 1. Ingest throughput: every device publishes the same number of QoS 1 messages with a
 * bounded window, first through plain aedes and mosquitto (forwarding to one subscriber),
 * then through the hub, where each PUBACK waits for the DuckDB commit. Alongside: CPU
 * per message (less sensitive to a busy machine than msg/s) and store.write alone.
 */
export const ingestSection: Section = {
  id: 'ingest',
  title: 'Ingest throughput',
  async run(ctx, config) {
    const details: Record<string, unknown> = {};
    const phase = PHASES.throughput;
    const payload = (id: string, seq: number, at: number) => heartbeat(id, phase, seq, at);
    const ids = Array.from({ length: config.devices }, (_, i) => ({ id: deviceIdOf(i) }));
    const common = {
      devices: ids,
      perDevice: config.messagesPerDevice,
      window: config.window,
      payload,
      workDir: ctx.dir('baselines'),
      baseEnv: config.baseEnv,
    };

    const raw = await runBaseline(rawAedes(config.baseEnv), common);
    details.rawAedes = raw;
    const mosq = config.mosquitto ? mosquitto(mosquittoBinary()) : undefined;
    const mosqRun = mosq ? await runBaseline(mosq, common) : undefined;
    details.mosquitto = mosqRun ?? mosq?.why ?? 'skipped (--no-mosquitto)';

    const batch = Number(config.hubEnv.INGEST_MAX_BATCH ?? DEFAULT_MAX_BATCH);
    const store = await storeOp<WriteReply>(
      { op: 'write', path: join(ctx.dir('store'), 'ceiling.duckdb'), batch, batches: config.quick ? 8 : 15 },
      config.baseEnv,
    );
    details.storeWrite = store;

    const { h, record, before } = await ctx.beginPhase('throughput', phase);
    const rss = new RssSampler(h.hub.pid).start();
    const cpu0 = cpuOf(h.hub.pid);
    const t0 = Date.now();
    await h.profiler?.start();
    const load = await h.fleet.closedLoop({
      perDevice: config.messagesPerDevice,
      window: config.window,
      payload,
      timeoutMs: 180_000,
      counter: record.heartbeats,
    });
    let profile: ProfileSummary | undefined;
    let memoryUsage: Record<string, number> | undefined;
    if (h.profiler) {
      profile = await h.profiler.stop(join(ctx.runDir, '..', 'hub-throughput.cpuprofile'));
      memoryUsage = await h.profiler.memoryUsage();
      console.log(`${printProfile(profile)}\n  hub process.memoryUsage() after the phase: ${JSON.stringify(memoryUsage)}`);
    }
    const wall = (Date.now() - t0) / 1000;
    const hubCpu = cpuDelta(cpu0, cpuOf(h.hub.pid));
    const mem = rss.stop();
    const after = await ctx.stats();
    ctx.facts.hubThroughput = load.sustainedRate;
    ctx.facts.hubLoadPeakRssMb = mem.peakMb;
    details.hub = { load, hubCpuSeconds: hubCpu, peakRssMb: mem.peakMb, statsBefore: before, statsAfter: after, profile, memoryUsage };

    const share = (cpuSeconds: number | undefined, seconds: number) => (cpuSeconds === undefined ? '?' : `${Math.round((cpuSeconds / seconds) * 100)} %`);
    const rows: Row[] = [
      {
        section: 'ingest',
        figure: `hub sustained, ${config.devices} devices × ${config.messagesPerDevice} msgs, window ${config.window}`,
        value: load.sustainedRate,
        unit: 'msg/s',
        baseline: { label: 'raw aedes → 1 sub', value: raw?.load.sustainedRate ?? null },
        target: RATIO,
        note: `overall ${Math.round(load.overallRate)} msg/s over ${load.seconds.toFixed(1)} s; hub used ${share(hubCpu?.process, wall)} of a core (main thread ${share(hubCpu?.mainThread, wall)}), the generator ${Math.round(load.generatorCpuShare * 100)} %`,
      },
      mosqRun
        ? {
            section: 'ingest',
            figure: 'hub vs mosquitto → 1 sub (outside baseline)',
            value: load.sustainedRate,
            unit: 'msg/s',
            baseline: { label: 'mosquitto', value: mosqRun.load.sustainedRate },
          }
        : { section: 'ingest', figure: 'mosquitto baseline', value: null, unit: 'msg/s', note: `n/a (${mosq?.why ?? 'skipped (--no-mosquitto)'})` },
      cpuPerMessage('hub', hubCpu ?? undefined, load.acked, raw),
      {
        section: 'ingest',
        figure: `store.write alone, ${batch}-message batches (separate process)`,
        value: store.messagesPerS,
        unit: 'msg/s',
        note: `median write ${store.medianWriteMs.toFixed(0)} ms, ${Math.round(store.mainThreadShare * 100)} % of it on the main thread; CPU ${store.cpuUsPerMessage.toFixed(0)} µs/message (main thread ${store.mainThreadUsPerMessage.toFixed(0)} µs); the hub reached ${Math.round((load.sustainedRate / store.messagesPerS) * 100)} % of this`,
      },
    ];
    const stored = before && after ? acknowledgedBetween(before, after) : null;
    rows.push(
      {
        section: 'ingest',
        figure: 'hub: acked − acknowledged by ingest (ingest stats)',
        value: stored === null ? null : load.acked - stored,
        unit: 'messages',
        target: ZERO,
        note:
          stored === null
            ? 'n/a (/v1/ingest/stats not answering)'
            : `${load.acked} acked, ${stored} acknowledged by ingest (the DuckDB file is checked at the end), ${load.errors} publish errors${load.timedOut ? ', TIMED OUT' : ''}; ${after!.batches - before!.batches} commits`,
      },
      {
        section: 'ingest',
        figure: 'hub: duplicates skipped (ingest stats)',
        value: before && after ? after.duplicates - before.duplicates : null,
        unit: 'messages',
        target: ZERO,
      },
    );
    for (const run of [raw, mosqRun]) {
      if (!run) continue;
      rows.push({
        section: 'ingest',
        figure: `${run.broker}: acked − received by subscriber`,
        value: run.load.acked - run.subscriberReceived,
        unit: 'messages',
        note: `${run.load.acked} acked, ${run.subscriberReceived} received`,
      });
    }
    return { rows, details };
  },
};

/** CPU time per message, all threads of the broker process; robust to a busy machine. */
function cpuPerMessage(who: string, cpu: CpuTimes | undefined, messages: number, raw: BaselineRun | undefined): Row {
  const us = (s: number | undefined, n: number) => (s === undefined || n === 0 ? null : (s / n) * 1e6);
  const rawCpu = raw?.brokerCpuSeconds;
  const main = us(cpu?.mainThread, messages);
  const rawMain = us(rawCpu?.mainThread, raw?.load.acked ?? 0);
  return {
    section: 'ingest',
    figure: `${who} CPU per message (broker process, all threads)`,
    value: us(cpu?.process, messages),
    unit: 'µs',
    baseline: { label: 'raw aedes', value: us(rawCpu?.process, raw?.load.acked ?? 0) },
    note: `lower is better; main thread alone ${main?.toFixed(0) ?? '?'} µs vs ${rawMain?.toFixed(0) ?? '?'} µs; the baseline excludes its subscriber process`,
  };
}
