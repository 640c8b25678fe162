import '../kernel/runtime.js';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';
import type { IngestBatch, Reading } from '../kernel/telemetry.js';

/**
 * `node dist/bench/history-store.js --stored 10000000 --memory 64MB`: the DuckDB store
 * with history. Seeds `--stored` messages (one reading each, received at 20 a second up
 * to a minute ago) with one SQL statement each for messages and points, then writes
 * `--messages` new ones through store.write() in the hub's batch size and prints one
 * JSON line: write rate, CPU time per message (all threads), RSS, file size. One store size per process, so RSS is its own.
 */
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const stored = Number(arg('stored', '0'));
const messages = Number(arg('messages', '50000'));
const batchSize = Number(arg('batch', '125'));
const memoryLimit = arg('memory', '64MB');
const dir = arg('dir', join(process.cwd(), 'data/bench/history-store'));

const rssMb = (): number => Math.round(process.memoryUsage().rss / 1e5) / 10;
const now = Date.now();
const RATE_PER_S = 20;

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const path = join(dir, 'telemetry.duckdb');

// The store creates (or migrates) its schema; seeding then goes around it with SQL.
await (await openDuckDbTelemetryStore({ path, memoryLimit })).close();
const seedStarted = performance.now();
if (stored > 0) {
  // Generous memory for the seed itself: it is not what is measured.
  const instance = await DuckDBInstance.create(path, { memory_limit: '1GB' });
  const c = await instance.connect();
  const first = now - 60_000 - Math.ceil((stored / RATE_PER_S) * 1000);
  const at = `(${first} + (i * 1000) // ${RATE_PER_S})`;
  // BY NAME: the same statement fills the keyed messages table of older files and the new one.
  const columns = await c.runAndReadAll(`SELECT column_name FROM duckdb_columns() WHERE table_name = 'messages' AND column_name = 'device_time'`);
  const deviceTime = columns.getRows().length > 0 ? `, ${at} AS device_time` : '';
  await c.run(`INSERT INTO messages BY NAME SELECT hash(i)::UBIGINT AS id, 'seed-' || (i % 200) AS device_id,
    ${at} AS received_at, 'accepted' AS status${deviceTime} FROM range(${stored}) t(i)`);
  await c.run(`INSERT INTO points BY NAME SELECT hash(i)::UBIGINT AS message_id, 0 AS seq, 'reading' AS kind,
    'seed-' || (i % 200) AS device_id, 'roomsense-3d' AS profile_id, 'fall-sensor' AS family, 'name' AS name,
    (i % 100)::DOUBLE AS value, '%' AS unit, ${at} AS device_time, ${at} AS received_at, false AS clock_skewed
    FROM range(${stored}) t(i)`);
  await c.run('CHECKPOINT');
  c.closeSync();
  instance.closeSync();
}
const seedSeconds = (performance.now() - seedStarted) / 1000;

const rssBefore = rssMb();
const openStarted = performance.now();
let result: Record<string, unknown>;
try {
  const store = await openDuckDbTelemetryStore({ path, memoryLimit });
  const openSeconds = (performance.now() - openStarted) / 1000;
  let peakRss = rssMb();
  const started = performance.now();
  // CPU time is steadier than the rate on a shared machine.
  const cpu0 = process.cpuUsage();
  let written = 0;
  let error: string | undefined;
  try {
    for (let b = 0; written < messages; b++) {
      const batch = batchOf(written, Math.min(batchSize, messages - written));
      await store.write(batch);
      written += batch.messages.length;
      if (b % 20 === 0) peakRss = Math.max(peakRss, rssMb());
    }
  } catch (e) {
    error = (e as Error).message.split('\n')[0];
  }
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  const cpuUsPerMessage = Math.round((cpu.user + cpu.system) / Math.max(1, written));
  result = { openSeconds, written, seconds, messagesPerS: Math.round(written / seconds), cpuUsPerMessage, peakRssMb: Math.max(peakRss, rssMb()), error };
} catch (e) {
  result = { error: (e as Error).message.split('\n')[0] };
}
console.log(JSON.stringify({ stored, memoryLimit, batchSize, messages, seedSeconds: Math.round(seedSeconds), rssBeforeMb: rssBefore, ...result, fileMb: Math.round(statSync(path).size / 1e6) }));
rmSync(dir, { recursive: true, force: true });

function batchOf(start: number, n: number): IngestBatch {
  const out: IngestBatch = { messages: [], points: [], rejections: [] };
  for (let k = start; k < start + n; k++) {
    // Ids well away from the seeded ones' hashes: splitmix-like mixing of a counter with a high tag.
    const id = BigInt.asUintN(64, (BigInt(k) + 0x5eed_0000_0000n) * 0x9e3779b97f4a7c15n);
    const t = Date.now();
    const point: Reading = {
      kind: 'reading', messageId: id, seq: 0, deviceId: `dev-${k % 200}`, profileId: 'roomsense-3d', family: 'fall-sensor',
      siteId: null, roomId: null, trialId: null, participantId: null, name: 'battery', value: k % 100, unit: '%',
      deviceTime: t, receivedAt: t, clockSkewed: false,
    };
    (out.messages as IngestBatch['messages'][number][]).push({ id, deviceId: point.deviceId, receivedAt: t });
    (out.points as Reading[]).push(point);
  }
  return out;
}
