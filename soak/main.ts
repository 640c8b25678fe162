import '../kernel/runtime.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import { registerFleet } from './arena.js';
import { tallyStore } from './count.js';
import { Fleet, isBadMessage } from './fleet.js';
import { hubApi, hubPorts, startHubProcess, type Service } from './processes.js';

/**
 * `npm run soak`: about a minute of the real all-in-one hub (dist/hub/main.js, a child
 * process) under a steady load of simulated devices, with a kill -9 and a graceful
 * restart in the middle, invalid messages (rejected) and devices that repeat messages
 * (duplicates). Then it counts the store against what the devices saw acknowledged and
 * prints the figures; it exits 1 if anything acknowledged was lost or stored twice.
 */
const USAGE = 'usage: npm run soak -- [--seconds 60] [--devices 20] [--rate 40] [--memory-limit 48MB] [--keep]';
const args = (() => {
  try {
    return parseArgs({
      options: {
        seconds: { type: 'string', default: '60' },
        devices: { type: 'string', default: '20' },
        rate: { type: 'string', default: '40' }, // messages per second per device
        'memory-limit': { type: 'string' }, // ARENA_DUCKDB_MEMORY_LIMIT for the hub
        keep: { type: 'boolean', default: false }, // keep the data folder
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (e) {
    console.error(`soak: ${(e as Error).message}\n${USAGE}`);
    process.exit(2);
  }
})();
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const seconds = Number(args.seconds);
const deviceCount = Number(args.devices);
const rate = Number(args.rate);
if (![seconds, deviceCount, rate].every((n) => Number.isFinite(n) && n > 0)) {
  console.error(`soak: --seconds, --devices and --rate take positive numbers\n${USAGE}`);
  process.exit(2);
}

const BAD_EVERY = 25; // 4 % of the messages are not JSON
const REPEAT_EVERY = 40; // a device resends every 40th message as a new PUBLISH

const dataDir = mkdtempSync(join(tmpdir(), 'arena-soak-'));
const logFile = join(dataDir, 'hub.log');
const ports = await hubPorts();
const memoryLimit = args['memory-limit'];
const env = { LOG_LEVEL: 'info', ...(memoryLimit ? { ARENA_DUCKDB_MEMORY_LIMIT: memoryLimit } : {}) };
const started = Date.now();
const at = (): string => `${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s`;
const say = (line: string): void => console.log(`[${at()}] ${line}`);

interface Stats {
  duplicates: number;
  storedMessages: number;
  rejected: number;
}
const lifetimes: { how: string; stats: Stats }[] = [];

let hub: Service = await startHubProcess({ dataDir, ports, logFile, env });
const api = (): ReturnType<typeof hubApi> => hubApi(ports.api, dataDir);
const statsNow = async (): Promise<Stats> => (await api()('/v1/ingest/stats')).body as Stats;
/** The hub's own final counters, from the line it logs when it stops gracefully. */
const stoppedStats = (): Stats | undefined => {
  const lines = readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"arena-hub stopped"'));
  return lines.length ? (JSON.parse(lines.at(-1)!) as Stats) : undefined;
};

const baseTime = Date.now() - 6 * 3_600_000;
const devices = await registerFleet(api(), deviceCount, 'SOAK');
const intervalMs = Math.max(1, Math.round(1000 / rate));
const perDevice = Math.floor((seconds * 0.75 * 1000) / intervalMs);
const fleet = new Fleet({
  url: `mqtt://127.0.0.1:${ports.mqtt}`,
  devices,
  messagesPerDevice: perDevice,
  intervalMs,
  baseTime,
  badEvery: BAD_EVERY,
  repeatEvery: REPEAT_EVERY,
});
say(`hub up (pid ${hub.child.pid}); ${deviceCount} devices, ${rate} messages/s each, ${perDevice} each; data in ${dataDir}`);
await fleet.start();

/** The hub's resident memory (kB, /proc), sampled each second, and the journal's backlog with each progress line. */
const rss = { peakKb: 0, lastKb: 0 };
const sampleRss = setInterval(() => {
  const kb = rssKb(hub.child.pid);
  if (kb === undefined) return;
  rss.lastKb = kb;
  rss.peakKb = Math.max(rss.peakKb, kb);
}, 1000);
const journalNow = async (): Promise<string> => {
  try {
    const j = ((await statsNow()) as Stats & { journal?: { waitingBytes: number; storeFailing: boolean; lastError: string | null } }).journal;
    return j ? `, journal ${(j.waitingBytes / 1e6).toFixed(1)} MB${j.storeFailing ? ` (store failing: ${j.lastError})` : ''}` : '';
  } catch {
    return ', hub not answering';
  }
};
const progress = setInterval(
  async () => say(`sent ${fleet.sent}, acknowledged ${fleet.acked}, hub RSS ${(rss.lastKb / 1024).toFixed(0)} MB${await journalNow()}`),
  5000,
);

/** Devices whose newest reading, read through the API as a user would, is not their last valid message. */
async function newestReadingsMissing(): Promise<string[]> {
  const missing: string[] = [];
  for (const d of devices) {
    let last = perDevice - 1;
    while (last >= 0 && isBadMessage(last, BAD_EVERY)) last--;
    const res = await api()(`/v1/devices/${encodeURIComponent(d.deviceId)}/readings?limit=1`);
    const newest = (res.body as { items?: { deviceTime?: string }[] }).items?.[0];
    if (res.status !== 200 || newest?.deviceTime === undefined || Date.parse(newest.deviceTime) !== baseTime + last * 10) missing.push(d.deviceId);
  }
  return missing;
}
let newestMissing: string[] = [];
/**
 * A graceful stop closes the broker, then loads the journal into the store before it
 * exits; with a backlog on a busy machine that is tens of seconds (the journal gives up
 * waiting after 30 s), more than the default grace before SIGKILL.
 */
const STOP_GRACE_MS = 120_000;

function rssKb(pid: number | undefined): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // between lifetimes
  }
}

try {
  await sleep(seconds * 0.25 * 1000);
  // Counters read the moment before the kill: the few messages committed after it are
  // not counted as duplicates by anyone, so the total below is a lower bound.
  const beforeKill = await statsNow();
  await hub.kill9();
  lifetimes.push({ how: 'killed (kill -9)', stats: beforeKill });
  say(`kill -9 the hub under load (acknowledged so far: ${fleet.acked})`);
  await sleep(500);
  hub = await startHubProcess({ dataDir, ports, logFile, env });
  say('hub restarted');

  await sleep(seconds * 0.3 * 1000);
  const code = await hub.stop(STOP_GRACE_MS);
  lifetimes.push({ how: `stopped (SIGTERM, exit ${code})`, stats: stoppedStats() ?? (await Promise.reject(new Error('no stop line in the log'))) });
  say(`SIGTERM: the hub stopped gracefully with exit code ${code}`);
  hub = await startHubProcess({ dataDir, ports, logFile, env });
  say('hub restarted');

  await fleet.drained(180_000);
  say(`every message acknowledged: ${fleet.acked}; hub RSS ${((rssKb(hub.child.pid) ?? 0) / 1024).toFixed(0)} MB${await journalNow()}`);
  newestMissing = await newestReadingsMissing();
  say(
    `each device's newest reading through /v1/devices/{id}/readings: ${newestMissing.length === 0 ? 'all there' : `missing or wrong for ${newestMissing.length}`}`,
  );
  const finalCode = await hub.stop(STOP_GRACE_MS);
  lifetimes.push({ how: `stopped (SIGTERM, exit ${finalCode})`, stats: stoppedStats()! });
} finally {
  clearInterval(progress);
  clearInterval(sampleRss);
  await fleet.close();
  await hub.kill9();
}

const store = await openDuckDbTelemetryStore({ path: join(dataDir, 'telemetry.duckdb') });
const t = await tallyStore(store, fleet.tallies, { badEvery: BAD_EVERY }).finally(() => store.close());
const duplicates = lifetimes.reduce((n, l) => n + l.stats.duplicates, 0);
const bad = fleet.tallies.reduce((n, d) => n + d.bad, 0);

const row = (label: string, value: number | string, note = ''): string => `  ${label.padEnd(24)}${String(value).padStart(9)}  ${note}`;
console.log(`
arena-hub soak: ${((Date.now() - started) / 1000).toFixed(0)} s, all-in-one hub, ${deviceCount} devices at ${rate} messages/s, QoS 1
  hub lifetimes: ${lifetimes.map((l) => l.how).join(', ')}
${row('messages sent', t.sent, `(${bad} of them invalid on purpose)`)}
${row('publish packets resent', t.resent, '(device repeats and resends after reconnects)')}
${row('acknowledged', t.acknowledged)}
${row('stored', t.stored, `(${t.stored - t.rejected} as readings, ${t.rejected} as rejections)`)}
${row('duplicates suppressed', duplicates, '(ingest counters; at least: the killed run is counted up to the kill)')}
${row('rejected', t.rejected)}
${row('stored twice', t.storedTwice)}
${row('lost', t.lost, t.lost ? `e.g. ${t.lostExamples.join(', ')}` : '(acknowledged but not stored)')}
${row('hub peak RSS', `${(rss.peakKb / 1024).toFixed(0)} MB`, `(sampled each second over all lifetimes; memory limit ${memoryLimit ?? 'default'})`)}
${row('newest reading missing', newestMissing.length, newestMissing.length ? `e.g. ${newestMissing.slice(0, 3).join(', ')}` : `(of ${deviceCount} devices, read through the API)`)}
`);

const ok = newestMissing.length === 0 && t.lost === 0 && t.storedTwice === 0 && t.acknowledged === t.sent && t.rejected === bad;
if (!args.keep && ok) rmSync(dataDir, { recursive: true, force: true });
else console.log(`  data and hub log kept in ${dataDir}`);
process.exit(ok ? 0 : 1);
