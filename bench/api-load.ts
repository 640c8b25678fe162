import '../kernel/runtime.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { prepareTrial, type TrialPlan } from './dataset-api.js';
import { cpuOf, cpuShare, memoryOf, RssSampler } from './proc-stats.js';
import { startHubChild, type HubChild } from './procs.js';
import { participantIdOf, seededSpan, storeOp, type RowsReply } from './store-ops.js';

/**
 * `npm run build --silent && node dist/bench/api-load.js`: the API attacks of issue 15,
 * bounded and on loopback, against the real hub in its own process (limits from the
 * environment, API_* as in the README): live requests dropped after 50 ms, a flood of
 * requests from one token, parallel exports of a seeded trial from several researchers,
 * and SIGTERM with streams open. Prints what the callers saw and the hub's CPU, RSS and
 * /healthz latency; asserts nothing.
 */
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '400000' },
    aborted: { type: 'string', default: '300' },
    exports: { type: 'string', default: '8' },
    flood: { type: 'string', default: '3000' },
  },
});
const rows = Number(args.rows);
const abortedCount = Number(args.aborted);
const exportCount = Number(args.exports);
const floodCount = Number(args.flood);
if (![rows, abortedCount, exportCount, floodCount].every((n) => Number.isInteger(n) && n > 0 && n <= 5_000_000)) {
  console.error('usage: node dist/bench/api-load.js [--rows 400000] [--aborted 300] [--exports 8] [--flood 3000]');
  process.exit(2);
}

const DAY = 86_400_000;
const TRIAL = 'LOAD-TRIAL';
const PARTICIPANTS = 20;
const dir = mkdtempSync(join(tmpdir(), 'arena-api-load-'));
const say = (line: string): void => console.log(line);
const ms = (v: number): string => `${v.toFixed(1)} ms`;
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const summary = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `n ${s.length}, p50 ${ms(pct(s, 50))}, p99 ${ms(pct(s, 99))}, max ${ms(s.at(-1) ?? NaN)}`;
};
const tally = (xs: (number | string)[]): string =>
  Object.entries(xs.reduce<Record<string, number>>((m, x) => ((m[x] = (m[x] ?? 0) + 1), m), {}))
    .map(([k, n]) => `${k}: ${n}`)
    .join(', ');

/** Latency of GET /healthz every 50 ms until stopped. */
function probeHealth(hub: HubChild) {
  const times: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const res = await fetch(`http://127.0.0.1:${hub.apiPort}/healthz`);
      await res.arrayBuffer();
      times.push(performance.now() - t);
      await sleep(50);
    }
  })();
  return async (): Promise<number[]> => {
    running = false;
    await loop;
    return times;
  };
}

async function cpuOver(hub: HubChild, seconds: number): Promise<string> {
  const before = cpuOf(hub.pid);
  await sleep(seconds * 1000);
  const share = cpuShare(before, cpuOf(hub.pid), seconds);
  return `${((share?.process ?? NaN) * 100).toFixed(1)} % of a core, RSS ${memoryOf(hub.pid)?.rssMb.toFixed(0)} MB`;
}

async function token(hub: HubChild, body: Record<string, unknown>): Promise<string> {
  const t = await hub.api<{ token?: string }>('/v1/tokens', { body: { label: 'api-load', ...body } });
  if (t.status !== 201 || !t.body?.token) throw new Error(`POST /v1/tokens answered ${t.status}`);
  return t.body.token;
}

let hub: HubChild | undefined;
try {
  const from = Math.floor((Date.now() - 365 * DAY) / DAY) * DAY;
  const seed = await storeOp<RowsReply>(
    { op: 'seed', path: join(dir, 'telemetry.duckdb'), rows, trialId: TRIAL, participants: PARTICIPANTS, from },
    process.env,
  );
  hub = await startHubChild({ dataDir: dir, baseEnv: process.env, logFile: join(dir, 'hub.log') });
  const plan: TrialPlan = {
    trialId: TRIAL,
    siteId: 'load-site',
    vendorId: 'load-vendor',
    participantIds: Array.from({ length: PARTICIPANTS }, (_, i) => participantIdOf(i)),
    ...seededSpan(seed.rows, from),
  };
  const prepared = await prepareTrial(hub, plan);
  if ('why' in prepared) throw new Error(prepared.why);
  const base = `http://127.0.0.1:${hub.apiPort}`;
  const clinician = await token(hub, { role: 'clinician', siteIds: [plan.siteId] });
  say(`hub pid ${hub.pid}, ${seed.rows.toLocaleString('en-US')} readings seeded; data in ${dir}`);
  say(`idle: ${await cpuOver(hub, 3)}`);

  // 1. Live requests dropped after 50 ms, from one token.
  const live = `${base}/v1/live?siteId=${plan.siteId}`;
  const dropped = await Promise.all(
    Array.from({ length: abortedCount }, async () => {
      const ctl = new AbortController();
      setTimeout(() => ctl.abort(), 50);
      try {
        const res = await fetch(live, { headers: { authorization: `Bearer ${clinician}` }, signal: ctl.signal });
        await res.arrayBuffer();
        return res.status;
      } catch {
        return 'aborted';
      }
    }),
  );
  say(`${abortedCount} live requests dropped after 50 ms: ${tally(dropped)}`);
  say(`  the next 5 s (the backlog of refused requests): ${await cpuOver(hub, 5)}`);
  say(`  the 5 s after (what is left behind): ${await cpuOver(hub, 5)}`);
  const helloAt = performance.now();
  const ctl = new AbortController();
  const stream = await fetch(live, { headers: { authorization: `Bearer ${hub.adminToken}` }, signal: ctl.signal });
  const reader = stream.body!.getReader();
  await reader.read();
  say(`  a new stream of another token: ${stream.status}, first bytes after ${ms(performance.now() - helloAt)}`);
  ctl.abort();

  // 2. A flood from one token while /healthz is probed.
  const researcher2 = await token(hub, { role: 'researcher', trialIds: [TRIAL] });
  let stopHealth = probeHealth(hub);
  const flood: number[] = [];
  for (let sent = 0; sent < floodCount; sent += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, floodCount - sent) }, async () => {
        const res = await fetch(`${base}/v1/trials/${TRIAL}/codebook`, { headers: { authorization: `Bearer ${researcher2}` } });
        await res.arrayBuffer();
        return res.status;
      }),
    );
    flood.push(...batch);
  }
  say(`${floodCount} rapid requests from one token: ${tally(flood)}; /healthz meanwhile ${summary(await stopHealth())}`);

  // 3. Parallel exports from several researchers (two each), /healthz probed throughout.
  const researchers = [
    prepared.token,
    ...(await Promise.all(Array.from({ length: Math.ceil(exportCount / 2) - 1 }, () => token(hub!, { role: 'researcher', trialIds: [TRIAL] })))),
  ];
  const rss = new RssSampler(hub.pid).start();
  const cpuBefore = cpuOf(hub.pid);
  const t0 = performance.now();
  stopHealth = probeHealth(hub);
  const exports = await Promise.all(
    Array.from({ length: exportCount }, async (_, i) => {
      const res = await fetch(`${base}/v1/trials/${TRIAL}/dataset?format=csv`, { headers: { authorization: `Bearer ${researchers[Math.floor(i / 2)]}` } });
      const bytes = (await res.arrayBuffer()).byteLength;
      return { status: res.status, bytes };
    }),
  );
  const health = await stopHealth();
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuShare(cpuBefore, cpuOf(hub.pid), seconds);
  say(
    `${exportCount} parallel CSV exports (${researchers.length} researchers): ${tally(exports.map((e) => e.status))}; ` +
      `${(exports.reduce((a, e) => a + (e.status === 200 ? e.bytes : 0), 0) / 1e6).toFixed(0)} MB sent in ${seconds.toFixed(1)} s; ` +
      `hub ${((cpu?.process ?? NaN) * 100).toFixed(0)} % of a core, peak RSS ${rss.stop().peakMb.toFixed(0)} MB; /healthz meanwhile ${summary(health)}`,
  );

  // 4. SIGTERM with streams open.
  const open = await Promise.all(
    Array.from({ length: 4 }, async () => {
      const c = new AbortController();
      const res = await fetch(live, { headers: { authorization: `Bearer ${clinician}` }, signal: c.signal });
      await res.body!.getReader().read();
      return c;
    }),
  );
  const stopAt = performance.now();
  const code = await hub.stop();
  say(`SIGTERM with ${open.length} live streams open: exited (${String(code)}) after ${ms(performance.now() - stopAt)}`);
  hub = undefined;
} finally {
  await hub?.stop();
  rmSync(dir, { recursive: true, force: true });
}
