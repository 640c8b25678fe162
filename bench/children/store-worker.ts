import { statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openJournaledStore } from '../../hub/journaled-store.js';
import { createLogger } from '../../kernel/log.js';
import type { Point, Reading } from '../../kernel/telemetry.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import { messageIdOf } from '../../kernel/message-id.js';
import { cpuOf, memoryOf } from '../proc-stats.js';
import { participantIdOf, SEED_BLOCK_ROWS as BLOCK_ROWS, SEED_BLOCK_SPAN_MS as SPAN_MS, type StoreOp } from '../store-ops.js';

/**
 * Store measurements, one per process so that each peak RSS (VmHWM) is its own. Ops:
 *  write  — store.write alone, heartbeat-like batches: with group commit's batch size
 *           the ceiling the store puts on ingest (no broker, decoding or network);
 *           with one message per write, the floor under publish → committed
 *  seed   — writes a trial of readings through store.write (the ingest path), then
 *           copies that block in SQL until it holds `rows` (store.write runs at ~100k
 *           points/s, too slow to write millions inside the time budget)
 *  points — streams the trial through store.points() and counts the rows
 *  copy   — DuckDB's own COPY of the same rows, same order, to CSV or Parquet: the
 *           engine's ceiling for an export that pushes the work down to DuckDB
 */

const POINTS_PER_MESSAGE = 100;
const MESSAGES_PER_WRITE = 500;
const NAMES = [
  ['fluid_intake', 'mL'],
  ['body_weight', 'kg'],
  ['device_temperature', 'Cel'],
] as const;

/** What a RoomSense heartbeat is stored as (device-profiles/profiles/roomsense-3d/profile.yaml). */
const HEARTBEAT_READINGS = [
  ['mains_power', '1'],
  ['device_temperature', 'Cel'],
  ['device_uptime', 's'],
] as const;

/** `size` messages like the bench's heartbeats, with ids made as ingest makes them. */
function heartbeatBatch(first: number, size: number): { messages: { id: bigint; deviceId: string; receivedAt: number }[]; points: Point[] } {
  const messages: { id: bigint; deviceId: string; receivedAt: number }[] = [];
  const points: Point[] = [];
  const now = Date.now();
  for (let k = first; k < first + size; k++) {
    const deviceId = `BENCH-${String(k % 1000).padStart(5, '0')}`;
    const id = messageIdOf(deviceId, `devices/${deviceId}/events`, Buffer.from(String(k)));
    messages.push({ id, deviceId, receivedAt: now });
    HEARTBEAT_READINGS.forEach(([name, unit], seq) => {
      const reading: Reading = {
        kind: 'reading',
        messageId: id,
        seq,
        deviceId,
        profileId: 'roomsense-3d',
        family: 'fall-sensor',
        siteId: 'bench-site',
        roomId: 'bench-room',
        trialId: null,
        participantId: null,
        name,
        value: k,
        unit,
        deviceTime: now,
        receivedAt: now,
        clockSkewed: false,
      };
      points.push(reading);
    });
  }
  return { messages, points };
}

async function writeRate(path: string, batch: number, batches: number, journal: boolean): Promise<object> {
  const store = journal
    ? await openJournaledStore({ dataDir: path, maxBytes: 256 * 1024 * 1024, logger: createLogger('warn') })
    : await openDuckDbTelemetryStore({ path });
  let seconds = 0;
  let mainThread = 0;
  let allThreads = 0;
  const perWriteMs: number[] = [];
  try {
    for (let b = 0; b < batches; b++) {
      const { messages, points } = heartbeatBatch(b * batch, batch);
      const cpu0 = cpuOf(process.pid);
      const t0 = performance.now();
      await store.write({ messages, points, rejections: [] });
      const dt = (performance.now() - t0) / 1000;
      seconds += dt;
      const cpu1 = cpuOf(process.pid);
      mainThread += (cpu1?.mainThread ?? 0) - (cpu0?.mainThread ?? 0);
      allThreads += (cpu1?.process ?? 0) - (cpu0?.process ?? 0);
      perWriteMs.push(dt * 1000);
    }
  } finally {
    await store.close();
  }
  perWriteMs.sort((a, b) => a - b);
  return {
    rows: batch * batches,
    seconds,
    messagesPerS: (batch * batches) / seconds,
    medianWriteMs: perWriteMs[Math.floor(perWriteMs.length / 2)],
    p99WriteMs: perWriteMs[Math.min(perWriteMs.length - 1, Math.ceil(perWriteMs.length * 0.99) - 1)],
    // Appenders run on the main thread: this share of each write blocks the event loop.
    mainThreadShare: mainThread / seconds,
    cpuUsPerMessage: (allThreads / (batch * batches)) * 1e6,
    mainThreadUsPerMessage: (mainThread / (batch * batches)) * 1e6,
  };
}

async function seed(path: string, rows: number, trialId: string, participants: number, from: number): Promise<object> {
  const copies = Math.ceil(rows / BLOCK_ROWS);
  const block = Math.ceil(rows / copies);
  const store = await openDuckDbTelemetryStore({ path });
  const started = performance.now();
  try {
    await writeBlock(store, block, trialId, participants, from);
  } finally {
    await store.close();
  }
  const written = performance.now();
  if (copies > 1) {
    const instance = await DuckDBInstance.create(path);
    const c = await instance.connect();
    try {
      // Each copy moves the block's message ids and device times past the previous one.
      // `p.* REPLACE` keeps working when columns are added to the schema.
      const idStep = 1_000_000_000;
      await c.run('BEGIN TRANSACTION');
      await c.run(`INSERT INTO messages SELECT m.* REPLACE (m.id + r * ${idStep} AS id) FROM messages m, range(1, ${copies}) t(r)`);
      await c.run(
        `INSERT INTO points SELECT p.* REPLACE (p.message_id + r * ${idStep} AS message_id, p.device_time + r * ${SPAN_MS} AS device_time,
           p.received_at + r * ${SPAN_MS} AS received_at) FROM points p, range(1, ${copies}) t(r)`,
      );
      await c.run('COMMIT');
      await c.run('CHECKPOINT');
    } finally {
      c.closeSync();
      instance.closeSync();
    }
  }
  const done = performance.now();
  return {
    rows: block * copies,
    storeWriteRowsPerS: block / ((written - started) / 1000),
    seconds: (done - started) / 1000,
    bytes: statSync(path).size,
  };
}

/** `rows` readings of one trial through store.write, in batches like group commit's. */
async function writeBlock(store: TelemetryStore, rows: number, trialId: string, participants: number, t0: number): Promise<void> {
  let written = 0;
  let messageNo = 1n;
  while (written < rows) {
    const messages: { id: bigint; deviceId: string; receivedAt: number }[] = [];
    const points: Point[] = [];
    for (let m = 0; m < MESSAGES_PER_WRITE && written < rows; m++) {
      const id = messageNo++;
      const p = Number(id % BigInt(participants));
      const deviceId = `AQ-${String(p).padStart(4, '0')}`;
      const receivedAt = t0 + Math.floor((written / rows) * SPAN_MS);
      messages.push({ id, deviceId, receivedAt });
      for (let seq = 0; seq < POINTS_PER_MESSAGE && written < rows; seq++, written++) {
        const [name, unit] = NAMES[seq % NAMES.length]!;
        const reading: Reading = {
          kind: 'reading',
          messageId: id,
          seq,
          deviceId,
          profileId: 'aquascale',
          family: 'fluid-balance',
          siteId: 'bench-site',
          roomId: 'bench-room',
          trialId,
          participantId: participantIdOf(p),
          name,
          value: Math.round(Math.random() * 100_000) / 100,
          unit,
          deviceTime: receivedAt - seq * 1000,
          receivedAt,
          clockSkewed: false,
        };
        points.push(reading);
      }
    }
    await store.write({ messages, points, rejections: [] });
  }
}

async function points(path: string, trialId: string): Promise<object> {
  const store = await openDuckDbTelemetryStore({ path });
  const started = performance.now();
  let rows = 0;
  try {
    for await (const _ of store.points({ trialId, order: 'asc' })) rows++;
  } finally {
    await store.close();
  }
  return { rows, seconds: (performance.now() - started) / 1000 };
}

/**
 * The columns a researcher's dataset plausibly carries (participant, device, what, value,
 * unit, when), against all twenty of the points table: CSV cost grows with every cell.
 */
const DATASET_COLUMNS = 'participant_id, device_id, kind, name, value, unit, alert_code, device_time';

async function copy(path: string, trialId: string, format: 'csv' | 'parquet', columns: 'all' | 'dataset', out: string): Promise<object> {
  const instance = await DuckDBInstance.create(path);
  const c = await instance.connect();
  const started = performance.now();
  try {
    const quoted = (s: string) => `'${s.replaceAll("'", "''")}'`;
    const result = await c.run(
      `COPY (SELECT ${columns === 'all' ? '*' : DATASET_COLUMNS} FROM points WHERE trial_id = ${quoted(trialId)} ORDER BY device_time, message_id, seq)
       TO ${quoted(out)} (FORMAT ${format === 'csv' ? 'csv, HEADER' : 'parquet'})`,
    );
    return { rows: Number(result.rowsChanged), seconds: (performance.now() - started) / 1000, bytes: statSync(out).size };
  } finally {
    c.closeSync();
    instance.closeSync();
  }
}

process.on('message', (m: StoreOp) => {
  const work =
    m.op === 'write'
      ? writeRate(m.path, m.batch, m.batches, m.journal ?? false)
      : m.op === 'seed'
        ? seed(m.path, m.rows, m.trialId, m.participants, m.from)
        : m.op === 'points'
          ? points(m.path, m.trialId)
          : copy(m.path, m.trialId, m.format, m.columns, m.out);
  work.then(
    (r) => process.send?.({ ...r, peakRssMb: memoryOf(process.pid)?.hwmMb ?? null }),
    (e: unknown) => process.send?.({ error: (e as Error).message }),
  );
});
process.on('disconnect', () => process.exit(0));
process.send?.({ ready: true });
