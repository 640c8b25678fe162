import '../kernel/runtime.js';
import { mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { columnsFor } from '../datasets/columns.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { IngestBatch, Reading } from '../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';

/**
 * `node dist/bench/history-store.js --stored 10000000 --memory 64MB`: the DuckDB store
 * with history. Seeds `--stored` readings of 200 devices (one participant each, four
 * measurements) at `--rate` a second up to a minute ago, with SQL; then, on the store:
 * writes `--messages` new messages through store.write() in the hub's batch size, reads
 * a device's newest readings and the ward board's query, exports one participant-week
 * (the week before the last day) as Parquet, closes (a checkpoint) and measures the
 * file against the same points as Parquet with zstd. Prints one JSON line. One store
 * size per process, so RSS is its own.
 */
const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const stored = Number(arg('stored', '0'));
const messages = Number(arg('messages', '50000'));
const batchSize = Number(arg('batch', '125'));
const memoryLimit = arg('memory', '64MB');
const ratePerS = Number(arg('rate', '4'));
const dir = arg('dir', join(process.cwd(), 'data/bench/history-store'));

const DEVICES = 200;
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const SEEDED_DEVICE = 'seed-7';
const rssMb = (): number => Math.round(process.memoryUsage().rss / 1e5) / 10;
const ms = (t0: number): number => Math.round((performance.now() - t0) * 10) / 10;
const now = Date.now();
const seedEnd = now - 60_000;
const seedStart = seedEnd - Math.ceil((stored / ratePerS) * 1000);
/** The participant-week exported: the week before the last day of the history. */
const week = { participantId: 'p-7', from: seedEnd - DAY - WEEK, to: seedEnd - DAY };

rmSync(dir, { recursive: true, force: true });
mkdirSync(dir, { recursive: true });
const path = join(dir, 'telemetry.duckdb');

// The store creates (or migrates) its schema; seeding then goes around it with SQL.
await (await openDuckDbTelemetryStore({ path, memoryLimit })).close();
const seedStarted = performance.now();
if (stored > 0) await seed();
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
  const cpuUsPerMessage = Math.round((cpu.user + cpu.system) / Math.max(1, written));
  const reads = await latestReads(store);
  const exported = stored > 0 ? await exportWeek(store) : undefined;
  peakRss = Math.max(peakRss, rssMb());
  await store.close();
  result = { openSeconds, written, seconds, messagesPerS: Math.round(written / seconds), cpuUsPerMessage, peakRssMb: peakRss, ...reads, exported, error };
} catch (e) {
  result = { error: (e as Error).message.split('\n')[0] };
}
const disk = await diskFigures();
console.log(
  JSON.stringify({ stored, ratePerS, memoryLimit, batchSize, messages, seedSeconds: Math.round(seedSeconds), rssBeforeMb: rssBefore, ...result, ...disk }),
);
if (!process.argv.includes('--keep')) rmSync(dir, { recursive: true, force: true });

async function withConnection<T>(memory: string, fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(path, { memory_limit: memory });
  const c = await instance.connect();
  try {
    return await fn(c);
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

/** Bulk SQL: one INSERT per table over range(); generous memory, it is not what is measured. */
async function seed(): Promise<void> {
  await withConnection('1GB', async (c) => {
    const at = `(${seedStart} + (i * 1000) // ${ratePerS})`;
    await c.run(`INSERT INTO messages BY NAME SELECT hash(i)::UBIGINT AS id, 'seed-' || (i % ${DEVICES}) AS device_id,
      ${at} + i % 7 AS received_at, 'accepted' AS status, ${at} AS device_time FROM range(${stored}) t(i)`);
    await c.run(`INSERT INTO points BY NAME SELECT hash(i)::UBIGINT AS message_id, 0 AS seq, 'reading' AS kind,
      'seed-' || (i % ${DEVICES}) AS device_id, 'fluid-scale' AS profile_id, 'fluid-balance' AS family,
      'site-1' AS site_id, 'room-' || (i % ${DEVICES} // 2) AS room_id, 'trial-1' AS trial_id, 'p-' || (i % ${DEVICES}) AS participant_id,
      ['weight', 'intake', 'output', 'battery'][1 + (i // ${DEVICES}) % 4] AS name,
      round(50 + ((i * 7919) % 5000) / 100.0, 2) AS value, ['kg', 'mL', 'mL', '%'][1 + (i // ${DEVICES}) % 4] AS unit,
      ${at} AS device_time, ${at} + i % 7 AS received_at, false AS clock_skewed
      FROM range(${stored}) t(i)`);
    await c.run(`INSERT INTO point_ranges SELECT device_id, kind, name, min(device_time), max(device_time), count(*) FROM points GROUP BY ALL`);
    await c.run('CHECKPOINT');
  });
}

/** Median of five runs of each latest-value read, in ms. */
async function latestReads(store: TelemetryStore): Promise<Record<string, number>> {
  const time = async (query: Parameters<TelemetryStore['points']>[0]): Promise<number> => {
    const runs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      for await (const _ of store.points(query)) {
        // drain
      }
      runs.push(ms(t0));
    }
    return runs.sort((a, b) => a - b)[2]!;
  };
  const at = Date.now();
  const out: Record<string, number> = {
    // GET /v1/devices/{id}/readings (default limit 100) and the ward board's query (api/routes/live-board.ts).
    latestReadingsMs: await time({ deviceIds: ['dev-7'], kind: 'reading', order: 'desc', limit: 100 }),
    boardReadingsMs: await time({ deviceIds: ['dev-7'], kind: 'reading', from: at - WEEK, order: 'desc', limit: 200 }),
  };
  if (stored > 0) out.seededLatestReadingsMs = await time({ deviceIds: [SEEDED_DEVICE], kind: 'reading', order: 'desc', limit: 100 });
  return out;
}

async function exportWeek(store: TelemetryStore): Promise<Record<string, number>> {
  const file = join(dir, 'week.parquet');
  const t0 = performance.now();
  const rows = await store.exportTo!(
    {
      query: { trialId: 'trial-1', release: { windows: [week], includeDeviceData: false } },
      columns: columnsFor('research').map((c) => ({ name: c.name, type: c.type })),
      format: 'parquet',
      pseudonym: (p) => `pseudo-${p}`,
      alarmEvents: { deviceId: 'hub-alarms', ref: (a) => a },
      baseline: null,
      interventionFrom: null,
    },
    file,
  );
  return { ms: ms(t0), rows: rows.total, bytes: statSync(file).size };
}

/** The closed file: size, free blocks, and the same points as Parquet with zstd. */
async function diskFigures(): Promise<Record<string, number>> {
  const fileBytes = statSync(path).size;
  return withConnection('1GB', async (c) => {
    const size = (await c.runAndReadAll('SELECT block_size, total_blocks, free_blocks FROM pragma_database_size()')).getRows()[0]!;
    const points = Number((await c.runAndReadAll('SELECT count(*) FROM points')).getRows()[0]![0]);
    const perPoint = (b: number): number => Math.round((b / Math.max(1, points)) * 10) / 10;
    const freeBytes = Number(size[0]) * Number(size[2]);
    const parquet = join(dir, 'points.parquet');
    await c.run(`COPY points TO '${parquet}' (FORMAT parquet, COMPRESSION zstd)`);
    return {
      points,
      fileMb: Math.round(fileBytes / 1e6),
      freeMb: Math.round(freeBytes / 1e6),
      bytesPerPoint: perPoint(fileBytes),
      usedBytesPerPoint: perPoint(fileBytes - freeBytes),
      parquetBytesPerPoint: perPoint(statSync(parquet).size),
    };
  });
}

function batchOf(start: number, n: number): IngestBatch {
  const out: IngestBatch = { messages: [], points: [], rejections: [] };
  for (let k = start; k < start + n; k++) {
    // Ids well away from the seeded ones' hashes: splitmix-like mixing of a counter with a high tag.
    const id = BigInt.asUintN(64, (BigInt(k) + 0x5eed_0000_0000n) * 0x9e3779b97f4a7c15n);
    const t = Date.now();
    const point: Reading = {
      kind: 'reading',
      messageId: id,
      seq: 0,
      deviceId: `dev-${k % DEVICES}`,
      profileId: 'roomsense-3d',
      family: 'fall-sensor',
      siteId: null,
      roomId: null,
      trialId: null,
      participantId: null,
      name: 'battery',
      value: k % 100,
      unit: '%',
      deviceTime: t,
      receivedAt: t,
      clockSkewed: false,
    };
    (out.messages as IngestBatch['messages'][number][]).push({ id, deviceId: point.deviceId, receivedAt: t });
    (out.points as Reading[]).push(point);
  }
  return out;
}
