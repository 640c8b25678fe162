import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError, isHubError } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { IngestBatch, Point } from '../../kernel/telemetry.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { T0, batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { rejectsWith } from '../helpers/errors.js';

const PARTICIPANT_KEY = Buffer.alloc(32, 7);

assertInfluxdInstalled();

const logger = createLogger('silent');
const root = mkdtempSync(join(tmpdir(), 'arena-outbox-'));
let dirs = 0;
const freshDir = (): string => join(root, `outbox-${++dirs}`);

let server: RunningInfluxd;
beforeAll(async () => {
  server = await startInfluxd();
});
afterAll(async () => {
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

let databases = 0;
async function influxStore(): Promise<{ open: () => Promise<TelemetryStore> }> {
  const db = `o${++databases}`;
  await server.query(`CREATE DATABASE "${db}"`);
  return {
    open: () =>
      openInfluxTelemetryStore({
        participantKey: PARTICIPANT_KEY,
        url: server.v2url,
        token: 'test-token',
        org: 'arena',
        bucket: db,
        database: db,
        timeoutMs: 2_000,
      }),
  };
}

/** Batch k: 4 messages of 3 readings, plus one rejected message; ids and times unique per k. */
function batchNo(k: number): IngestBatch {
  const points: Point[] = [];
  for (let m = 0; m < 4; m++) {
    for (let seq = 0; seq < 3; seq++) points.push(reading(BigInt(k * 10 + m + 1), T0 + k * 100 + m, { seq, value: k * 100 + m * 10 + seq }));
  }
  return batchOf(points, [rejection(BigInt(k * 10 + 9), T0 + k * 100)]);
}

async function pointKeys(store: TelemetryStore): Promise<string[]> {
  const out: string[] = [];
  for await (const p of store.points({})) out.push(`${p.messageId}/${p.seq}`);
  return out;
}

const expectedKeys = (n: number): string[] => Array.from({ length: n }, (_, k) => batchNo(k).points.map((p) => `${p.messageId}/${p.seq}`)).flat();

/** A store that is down (or refuses) until told otherwise. */
function fakeStore(fail: (batch: IngestBatch) => Error | undefined): TelemetryStore & { batches: IngestBatch[] } {
  const batches: IngestBatch[] = [];
  const nope = () => Promise.reject(new Error('not used'));
  return {
    batches,
    async write(b) {
      const e = fail(b);
      if (e) throw e;
      batches.push(b);
      return { storedMessages: b.messages.length, duplicateMessages: 0 };
    },
    points: () => ({ [Symbol.asyncIterator]: () => ({ next: nope }) }),
    aggregate: nope,
    rejections: nope,
    rejectionCounts: nope,
    eraseParticipant: async () => 0,
    ping: async () => undefined,
    close: async () => undefined,
  };
}
const down = () => new HubError('STORE_UNAVAILABLE', 'down');

describe('outbox in front of InfluxDB', () => {
  it('loses nothing and duplicates nothing when influxd is killed mid-stream and restarted', async () => {
    const { open } = await influxStore();
    const store = await withOutbox(await open(), { dir: freshDir(), maxBytes: 64 * 1024 * 1024, logger, retry: { minMs: 20, maxMs: 250 } });
    const total = 150;
    let maxPending = 0;
    let outage: Promise<void> = Promise.resolve();
    for (let k = 0; k < total; k++) {
      if (k === 40) outage = server.kill(); // a crash while writes keep coming
      if (k === 110) {
        await outage;
        maxPending = store.pendingBytes();
        await server.restart();
      }
      const r = await store.write(batchNo(k)); // resolves from the disk queue, server or not
      expect(r).toEqual({ storedMessages: 5, duplicateMessages: 0 });
      await new Promise((res) => setTimeout(res, 2)); // pacing, not a wait: the writes span the kill and the restart
    }
    expect(maxPending).toBeGreaterThan(0); // the outage really queued
    await store.drained();
    expect(store.pendingBytes()).toBe(0);
    expect(await pointKeys(store)).toEqual(expectedKeys(total));
    expect(await store.rejections({ limit: 1000 })).toHaveLength(total);
    await store.close();
  }, 60_000);

  it('delivers, after a restart of the hub, what an earlier process had queued', async () => {
    const { open } = await influxStore();
    const dir = freshDir();
    const first = await withOutbox(fakeStore(down), { dir, maxBytes: 1 << 20, segmentBytes: 4096, logger, retry: { minMs: 5, maxMs: 20 } });
    for (let k = 0; k < 30; k++) await first.write(batchNo(k));
    expect(first.pendingBytes()).toBeGreaterThan(4096); // spans several segments
    await first.close();
    // A crash in the middle of an append leaves a partial line, never acknowledged.
    const segments = readdirSync(dir)
      .filter((f) => f.startsWith('segment-'))
      .sort();
    appendFileSync(join(dir, segments[segments.length - 1]!), '{"v":1,"messages":[{"id":"77');

    const second = await withOutbox(await open(), { dir, maxBytes: 1 << 20, segmentBytes: 4096, logger, retry: { minMs: 5, maxMs: 20 } });
    await second.drained();
    expect(await pointKeys(second)).toEqual(expectedKeys(30));
    expect(readdirSync(dir).filter((f) => f.startsWith('segment-'))).toHaveLength(1); // delivered segments are gone
    await second.close();

    // The cursor lost (a crash right after delivery): everything is delivered again, stored once.
    unlinkSync(join(dir, 'cursor.json'));
    const third = await withOutbox(await open(), { dir, maxBytes: 1 << 20, segmentBytes: 4096, logger });
    await third.drained();
    expect(await pointKeys(third)).toEqual(expectedKeys(30));
    await third.close();
  });

  it('refuses writes beyond maxBytes and raises the alarm first', async () => {
    const alarms: number[] = [];
    const maxBytes = 40_000;
    const store = await withOutbox(fakeStore(down), {
      dir: freshDir(),
      maxBytes,
      onNearlyFull: (used) => alarms.push(used),
      logger,
      retry: { minMs: 1000, maxMs: 1000 },
    });
    let accepted = 0;
    let refusal: unknown;
    for (let k = 0; k < 1000 && !refusal; k++) {
      await store.write(batchNo(k)).then(
        () => accepted++,
        (e: unknown) => (refusal = e),
      );
    }
    expect(isHubError(refusal) && refusal.code).toBe('STORE_UNAVAILABLE');
    expect(String((refusal as Error).message)).toMatch(/outbox full/);
    expect(accepted).toBeGreaterThan(0);
    expect(store.pendingBytes()).toBeLessThanOrEqual(maxBytes);
    expect(alarms).toHaveLength(1); // once per filling, not per write
    expect(alarms[0]).toBeGreaterThanOrEqual(0.8 * maxBytes);
    await store.close();
  });

  it('keeps a batch the store refuses for good aside and goes on', async () => {
    const dir = freshDir();
    // The store refuses any write holding batch 1's messages; queued batches may reach it merged.
    const poisoned = new Set(batchNo(1).messages.map((m) => m.id));
    const inner = fakeStore((b) => (b.messages.some((m) => poisoned.has(m.id)) ? new HubError('VALIDATION_FAILED', 'field type conflict') : undefined));
    const store = await withOutbox(inner, { dir, maxBytes: 1 << 20, logger });
    for (let k = 0; k < 3; k++) await store.write(batchNo(k));
    await store.drained();
    const idsOf = (bs: IngestBatch[]): bigint[] => bs.flatMap((b) => b.messages.map((m) => m.id));
    expect(idsOf(inner.batches)).toEqual(idsOf([batchNo(0), batchNo(2)]));
    const dead = readFileSync(join(dir, 'dead-letter.ndjson'), 'utf8').trim().split('\n');
    expect(dead).toHaveLength(1);
    expect(JSON.parse(dead[0]!).error).toMatch(/field type conflict/);
    await store.close();
  });

  it('refuses an inconsistent batch at once, and writes after close', async () => {
    const store = await withOutbox(
      fakeStore(() => undefined),
      { dir: freshDir(), maxBytes: 1 << 20, logger },
    );
    const good = batchOf([reading(1n, T0)]);
    await rejectsWith(store.write({ ...good, points: [...good.points, reading(2n, T0)] }), 'VALIDATION_FAILED', /not listed/);
    await store.close();
    await rejectsWith(store.write(good), 'STORE_UNAVAILABLE', /closed/);
  });
});
