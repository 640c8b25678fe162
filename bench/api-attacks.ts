import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { prepareTrial, type TrialPlan } from './dataset-api.js';
import { cpuOf, cpuShare, RssSampler } from './proc-stats.js';
import { forkHelper, startHubChild, type HubChild } from './procs.js';
import { participantIdOf, seededSpan, storeOp, type RowsReply } from './store-ops.js';

/**
 * The API attacks of the "responsive under abuse" issue, against the real hub in its own
 * process on a seeded trial, bounded and on loopback: live requests dropped after 50 ms,
 * a flood of requests from one token, parallel exports from several researchers, and
 * SIGTERM with live streams open. Throughout, /healthz is probed every 50 ms and one
 * device publishes QoS 1 every 100 ms (the exports are downloaded by a child process,
 * bench/children/downloader.ts, so that the probes' own loop is not busy with them), so what a ward and a device see during each attack
 * is measured beside what the attacker gets. Run by `npm run bench -- --only=api` (rows
 * with targets) and by `node dist/bench/api-load.js` (the same figures as text).
 */
export interface AttackOptions {
  readonly dir: string;
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
  /** Readings seeded in the trial that the exports read. */
  readonly rows: number;
  readonly aborted: number;
  readonly exports: number;
  readonly flood: number;
  readonly say?: (line: string) => void;
}

/** Latencies in ms of one probe during one phase. */
export type Samples = number[];

export interface AttackFigures {
  readonly seededRows: number;
  readonly idle: { readonly health: Samples; readonly puback: Samples; readonly cpu: number };
  readonly dropped: { readonly statuses: Record<string, number>; readonly cpuAfter: number; readonly newStreamMs: number };
  readonly flood: { readonly statuses: Record<string, number>; readonly health: Samples; readonly puback: Samples; readonly generatorLagP99Ms: number };
  readonly exports: {
    readonly statuses: Record<string, number>;
    readonly seconds: number;
    readonly megabytes: number;
    readonly peakRssMb: number;
    readonly health: Samples;
    readonly puback: Samples;
    readonly generatorLagP99Ms: number;
  };
  readonly sigterm: { readonly streams: number; readonly ms: number; readonly exit: string };
}

const DAY = 86_400_000;
const TRIAL = 'LOAD-TRIAL';
const PARTICIPANTS = 20;
const DEVICE = 'LOAD-AQ-1';

/** Nearest-rank percentile. */
export const percentile = (xs: Samples, p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};

const tally = (xs: readonly (number | string)[]): Record<string, number> =>
  xs.reduce<Record<string, number>>((m, x) => ((m[String(x)] = (m[String(x)] ?? 0) + 1), m), {});

/** Runs `fn` while probing, and returns what the probe saw. */
type Probe = { stop(): Promise<Samples> };

function probeHealth(hub: HubChild): Probe {
  const times: Samples = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      try {
        const res = await fetch(`http://127.0.0.1:${hub.apiPort}/healthz`, { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        times.push(res.ok ? performance.now() - t : Infinity);
      } catch {
        times.push(Infinity); // no answer within 10 s counts as the worst latency
      }
      await sleep(50);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return times;
    },
  };
}

/** One device publishing a reading at QoS 1 every 100 ms; PUBACK latency of each. */
function probePuback(client: mqtt.MqttClient): Probe {
  const times: Samples = [];
  let running = true;
  let seq = 0;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const payload = JSON.stringify({ serial: DEVICE, measured_at: new Date().toISOString(), kind: 'weight', value: 70_000 + (seq++ % 100), unit: 'g' });
      await client.publishAsync(`devices/${DEVICE}/measurements`, payload, { qos: 1 });
      times.push(performance.now() - t);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return times;
    },
  };
}

/**
 * Runs `fn` while probing. The probes share this process with the attack's own requests,
 * so its event loop's delay p99 comes along: a probe late because the generator was busy
 * is not the hub's latency.
 */
async function during<T>(
  hub: HubChild,
  client: mqtt.MqttClient,
  fn: () => Promise<T>,
): Promise<{ result: T; health: Samples; puback: Samples; generatorLagP99Ms: number }> {
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const health = probeHealth(hub);
  const puback = probePuback(client);
  try {
    const result = await fn();
    return { result, health: await health.stop(), puback: await puback.stop(), generatorLagP99Ms: lag.percentile(99) / 1e6 };
  } finally {
    lag.disable();
    await Promise.allSettled([health.stop(), puback.stop()]);
  }
}

async function cpuOver(hub: HubChild, seconds: number): Promise<number> {
  const before = cpuOf(hub.pid);
  await sleep(seconds * 1000);
  return cpuShare(before, cpuOf(hub.pid), seconds)?.process ?? NaN;
}

async function token(hub: HubChild, body: Record<string, unknown>): Promise<string> {
  const t = await hub.api<{ token?: string }>('/v1/tokens', { body: { label: 'api-load', ...body } });
  if (t.status !== 201 || !t.body?.token) throw new Error(`POST /v1/tokens answered ${t.status}`);
  return t.body.token;
}

export async function runApiAttacks(o: AttackOptions): Promise<AttackFigures> {
  const say = o.say ?? (() => undefined);
  const from = Math.floor((Date.now() - 365 * DAY) / DAY) * DAY;
  const seed = await storeOp<RowsReply>(
    { op: 'seed', path: join(o.dir, 'telemetry.duckdb'), rows: o.rows, trialId: TRIAL, participants: PARTICIPANTS, from },
    o.baseEnv,
  );
  let hub: HubChild | undefined = await startHubChild({ dataDir: o.dir, baseEnv: o.baseEnv, logFile: join(o.dir, 'hub.log') });
  let client: mqtt.MqttClient | undefined;
  try {
    const plan: TrialPlan = {
      trialId: TRIAL,
      siteId: 'load-site',
      vendorId: 'load-vendor',
      participantIds: Array.from({ length: PARTICIPANTS }, (_, i) => participantIdOf(i)),
      ...seededSpan(seed.rows, from),
    };
    const prepared = await prepareTrial(hub, plan);
    if ('why' in prepared) throw new Error(prepared.why);
    const device = await hub.api<{ secret?: string }>('/v1/devices', {
      body: { id: DEVICE, vendorId: plan.vendorId, profileId: 'aquascale', siteId: plan.siteId },
    });
    if (device.status !== 201 || !device.body?.secret) throw new Error(`POST /v1/devices answered ${device.status}`);
    client = await mqtt.connectAsync(`mqtt://127.0.0.1:${hub.mqttPort}`, {
      clientId: DEVICE,
      username: DEVICE,
      password: device.body.secret,
      clean: true,
      reconnectPeriod: 0,
    });
    const base = `http://127.0.0.1:${hub.apiPort}`;
    const clinician = await token(hub, { role: 'clinician', siteIds: [plan.siteId] });
    say(`hub pid ${hub.pid}, ${seed.rows.toLocaleString('en-US')} readings seeded; data in ${o.dir}`);

    const idleCpu = await cpuOver(hub, 2);
    const idle = await during(hub, client, () => sleep(3000));
    say(`idle: ${(idleCpu * 100).toFixed(1)} % of a core`);

    // 1. Live requests dropped after 50 ms, from one token.
    const live = `${base}/v1/live?siteId=${plan.siteId}`;
    const dropped = await Promise.all(
      Array.from({ length: o.aborted }, async () => {
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
    await sleep(5000); // the backlog of refused requests
    const cpuAfter = await cpuOver(hub, 5); // what is left behind
    const helloAt = performance.now();
    const ctl = new AbortController();
    const stream = await fetch(live, { headers: { authorization: `Bearer ${hub.adminToken}` }, signal: ctl.signal });
    await stream.body!.getReader().read();
    const newStreamMs = performance.now() - helloAt;
    ctl.abort();
    say(`${o.aborted} live requests dropped after 50 ms; the hub 5 s later: ${(cpuAfter * 100).toFixed(1)} % of a core`);

    // 2. A flood from one token.
    const flooder = await token(hub, { role: 'researcher', trialIds: [TRIAL] });
    const flood = await during(hub, client, async () => {
      const statuses: number[] = [];
      for (let sent = 0; sent < o.flood; sent += 100) {
        const batch = await Promise.all(
          Array.from({ length: Math.min(100, o.flood - sent) }, async () => {
            const res = await fetch(`${base}/v1/trials/${TRIAL}/codebook`, { headers: { authorization: `Bearer ${flooder}` } });
            await res.arrayBuffer();
            return res.status;
          }),
        );
        statuses.push(...batch);
      }
      return statuses;
    });
    say(`${o.flood} rapid requests from one token: ${JSON.stringify(tally(flood.result))}`);

    // 3. Parallel exports from several researchers (two each).
    const researchers = [
      prepared.token,
      ...(await Promise.all(Array.from({ length: Math.ceil(o.exports / 2) - 1 }, () => token(hub!, { role: 'researcher', trialIds: [TRIAL] })))),
    ];
    const rss = new RssSampler(hub.pid).start();
    const t0 = performance.now();
    // Downloaded by another process, as researchers elsewhere would: the probes' loop carries none of it.
    const downloader = await forkHelper('downloader.js', [], o.baseEnv);
    let exports: Awaited<ReturnType<typeof during<{ status: number; bytes: number }[]>>>;
    try {
      const requests = Array.from({ length: o.exports }, (_, i) => ({
        url: `${base}/v1/trials/${TRIAL}/dataset?format=csv`,
        token: researchers[Math.floor(i / 2)]!,
      }));
      exports = await during(hub, client, async () => (await downloader.request<{ results: { status: number; bytes: number }[] }>({ requests })).results);
    } finally {
      await downloader.stop();
    }
    const seconds = (performance.now() - t0) / 1000;
    const peakRssMb = rss.stop().peakMb;
    const megabytes = exports.result.reduce((a, e) => a + (e.status === 200 ? e.bytes : 0), 0) / 1e6;
    say(
      `${o.exports} parallel CSV exports: ${JSON.stringify(tally(exports.result.map((e) => e.status)))}, ${megabytes.toFixed(0)} MB in ${seconds.toFixed(1)} s; generator's event loop delay p99 ${exports.generatorLagP99Ms.toFixed(0)} ms`,
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
    await client.endAsync();
    client = undefined;
    const stopAt = performance.now();
    const exit = await hub.stop();
    const stopMs = performance.now() - stopAt;
    hub = undefined;
    for (const c of open) c.abort();
    say(`SIGTERM with ${open.length} live streams open: exited (${String(exit)}) after ${stopMs.toFixed(0)} ms`);

    return {
      seededRows: seed.rows,
      idle: { health: idle.health, puback: idle.puback, cpu: idleCpu },
      dropped: { statuses: tally(dropped), cpuAfter, newStreamMs },
      flood: { statuses: tally(flood.result), health: flood.health, puback: flood.puback, generatorLagP99Ms: flood.generatorLagP99Ms },
      exports: {
        statuses: tally(exports.result.map((e) => e.status)),
        seconds,
        megabytes,
        peakRssMb,
        health: exports.health,
        puback: exports.puback,
        generatorLagP99Ms: exports.generatorLagP99Ms,
      },
      sigterm: { streams: open.length, ms: stopMs, exit: String(exit) },
    };
  } finally {
    await client?.endAsync(true);
    await hub?.stop();
  }
}
