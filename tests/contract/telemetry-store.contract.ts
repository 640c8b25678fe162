import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { columnsFor } from '../../datasets/columns.js';
import { writeExport, type DatasetSpec } from '../../datasets/export.js';
import { ALARM_SOURCE_ID } from '../../kernel/alarms.js';
import type { IndicatorCounts, IndicatorQuery } from '../../kernel/indicators.js';
import type { PointQuery, ReleaseWindow, TelemetryStore } from '../../kernel/ports.js';
import { pointIndicatorReader } from '../../reports/point-counts.js';
import type { HubEvent, IngestBatch, MessageId, Point, Reading, Rejection, WriteResult } from '../../kernel/telemetry.js';
import { rejectsWith } from '../helpers/errors.js';

/** The keys of T's optional members. */
type OptionalKeys<T> = { [K in keyof T]-?: undefined extends T[K] ? K : never }[keyof T];

/**
 * The port's optional operations (kernel/ports.ts), each with what a caller does when the
 * store lacks it (for the test name). Keyed by the port's own optional members, so one
 * added to the port fails the type check here until the suite knows it.
 */
const WITHOUT = {
  exportTo: 'datasets stream points() through datasets/formats.ts',
  indicatorCounts: 'reports count from points() (reports/point-counts.ts)',
  expireRejections: "rejections last as long as the store's own retention (ingest/rejection-retention.ts)",
  archiveTrial: 'the trial retention schedule refuses an archive with STORE_UNAVAILABLE (hub/retention-schedule.ts)',
  deleteTrial: 'the trial retention schedule refuses a deletion with STORE_UNAVAILABLE (hub/retention-schedule.ts)',
} as const satisfies Record<OptionalKeys<TelemetryStore>, string>;

export type OptionalCapability = keyof typeof WITHOUT;
/**
 * Each runner names those its adapter offers; the suite checks the adapter offers exactly
 * those, holds each offered one to its promise, and shows each other one absent.
 */
export const OPTIONAL_CAPABILITIES = Object.keys(WITHOUT) as readonly OptionalCapability[];

/**
 * The behaviour every TelemetryStore adapter promises (kernel/ports.ts). Each adapter's
 * test file calls telemetryStoreContract() with a factory that opens a clean store; the
 * suite tests only what the port promises, never how an adapter stores it. Runners:
 * tests/contract/duckdb-telemetry.test.ts, journaled-duckdb-telemetry.test.ts,
 * split-ingest-telemetry.test.ts, and tests/influx/influx-telemetry.test.ts.
 *
 * Decisions this suite pins down where the port's comments are silent:
 * - A message listed twice in one batch is stored once; the extra listing counts as a
 *   duplicate, and its repeated points (same messageId and seq) are stored once.
 * - A batch with a point or rejection whose messageId is not in batch.messages is a
 *   caller bug: write() rejects with VALIDATION_FAILED and stores nothing of that batch.
 *   So does a store that writes directly for a time that is not a whole millisecond.
 * - A closed store refuses every call with STORE_UNAVAILABLE.
 * - An empty deviceIds or names list matches nothing (it is a filter, not "no filter").
 * - Equal device times are ordered by messageId as an unsigned 64-bit number, then seq.
 * - Erasing a participant keeps the message ids: a redelivery stays a duplicate and
 *   does not bring the erased points back.
 * - Exactly-once holds for a redelivery received within an hour of the original (any
 *   message, rejected ones too), and for one received however much later when it
 *   carries the original's device times (a device resending the same payload). An
 *   adapter may bound what it remembers beyond that (stores/duckdb/README.md).
 */
export function telemetryStoreContract<S extends TelemetryStore>(
  name: string,
  open: () => Promise<S>,
  opts: {
    /** The optional operations the adapter offers; the suite checks it offers no other. */
    offers: readonly OptionalCapability[];
    largeRange?: number;
    /**
     * False for a store that acknowledges on a durable queue (stores/outbox/outbox.ts):
     * it knows a redelivery only when the queue reaches the store behind it, so write()
     * reports such a message as stored. What is stored is checked all the same.
     */
    duplicatesKnownOnWrite?: boolean;
    /**
     * For a store whose reads go to the store behind a queue without waiting for it
     * (the split layout's ingest: the outbox without readYourWrites, which lets reads lag
     * while InfluxDB is slow or down): resolves once everything written so far is
     * delivered. The suite waits for it before each read, then checks what is stored.
     */
    delivered?: (store: S) => Promise<void>;
  },
): void {
  const largeRange = opts.largeRange ?? 200_000;
  const exact = opts.duplicatesKnownOnWrite ?? true;
  const delivered = opts.delivered;
  /** write()'s result: exact, or (for a queue) every listed message accounted for. */
  const expectWritten = (actual: WriteResult, expected: WriteResult): void => {
    if (exact) expect(actual).toEqual(expected);
    else expect(actual.storedMessages + actual.duplicateMessages).toBe(expected.storedMessages + expected.duplicateMessages);
  };
  /** The store as the suite uses it: reads wait for delivery when the adapter lets them lag. */
  const readable = (store: S): S => {
    if (!delivered) return store;
    const settled = (): Promise<void> => delivered(store);
    const view: TelemetryStore = {
      write: (batch) => store.write(batch),
      points: (query) =>
        (async function* () {
          await settled();
          yield* store.points(query);
        })(),
      aggregate: async (query) => (await settled(), store.aggregate(query)),
      rejections: async (query) => (await settled(), store.rejections(query)),
      rejectionCounts: async (query) => (await settled(), store.rejectionCounts(query)),
      eraseParticipant: (id) => store.eraseParticipant(id),
      ping: () => store.ping(),
      close: () => store.close(),
    };
    for (const c of OPTIONAL_CAPABILITIES) {
      const op = store[c] as ((...args: never[]) => Promise<unknown>) | undefined;
      if (op) Object.assign(view, { [c]: async (...args: never[]) => (await settled(), op.apply(store, args)) });
    }
    return view as S;
  };

  describe(`TelemetryStore contract: ${name}`, () => {
    const opened: TelemetryStore[] = [];
    /** A clean store, closed after the test. */
    const fresh = async (): Promise<TelemetryStore> => {
      const store = await open();
      opened.push(store);
      return readable(store);
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
    });

    describe('write and read back', () => {
      it('round-trips readings and events with every field intact', async () => {
        const store = await fresh();
        const points: Point[] = [
          reading(0xffff_ffff_ffff_fff0n, T0, {
            value: -12.375,
            unit: 'mL',
            siteId: null,
            roomId: null,
            trialId: null,
            participantId: null,
            clockSkewed: true,
            receivedAt: T0 + 90_000,
          }),
          reading(1n, T0 + 1, { seq: 3, value: 0, unit: 'kg', participantId: 'p-1', trialId: 'trial-9' }),
          event(2n, T0 + 2, {
            name: 'fall',
            alertCode: '4.1',
            dispenseCode: null,
            severity: 40,
            attributes: { posture: 'lying', confidence: 0.93, confirmed: true, zone: 3 },
          }),
          event(3n, T0 + 3, { name: 'dose-taken', family: 'medication-dispenser', alertCode: null, dispenseCode: 'D2', severity: 0, attributes: {} }),
        ];
        expectWritten(await store.write(batchOf(points)), { storedMessages: 4, duplicateMessages: 0 });
        expect(await collect(store.points({}))).toEqual(points);
      });

      it('accepts an empty batch', async () => {
        const store = await fresh();
        expectWritten(await store.write({ messages: [], points: [], rejections: [] }), { storedMessages: 0, duplicateMessages: 0 });
      });

      it('answers ping', async () => {
        const store = await fresh();
        await expect(store.ping()).resolves.toBeUndefined();
      });
    });

    describe('exactly-once', () => {
      it('stores a message written in two batches once and reports the duplicate', async () => {
        const store = await fresh();
        const first = batchOf([reading(1n, T0), reading(1n, T0, { seq: 1 }), reading(2n, T0 + 1)]);
        expectWritten(await store.write(first), { storedMessages: 2, duplicateMessages: 0 });
        expectWritten(await store.write(first), { storedMessages: 0, duplicateMessages: 2 });

        const mixed = batchOf([reading(2n, T0 + 1), reading(3n, T0 + 2)]);
        expectWritten(await store.write(mixed), { storedMessages: 1, duplicateMessages: 1 });
        expect(ids(await collect(store.points({})))).toEqual(['1/0', '1/1', '2/0', '3/0']);
      });

      it('stores a message listed twice inside one batch once', async () => {
        const store = await fresh();
        // A redelivery that lands in the same group commit: message and points repeat.
        const once = batchOf([reading(7n, T0), reading(7n, T0, { seq: 1 })]);
        const twice: IngestBatch = {
          messages: [...once.messages, ...once.messages],
          points: [...once.points, ...once.points],
          rejections: [],
        };
        expectWritten(await store.write(twice), { storedMessages: 1, duplicateMessages: 1 });
        expect(ids(await collect(store.points({})))).toEqual(['7/0', '7/1']);
      });

      it('recognises a resend received long after the original by its device times', async () => {
        const store = await fresh();
        const original = batchOf([reading(11n, T0), reading(11n, T0 + 5, { seq: 1 }), reading(12n, T0 + 10)]);
        expectWritten(await store.write(original), { storedMessages: 2, duplicateMessages: 0 });
        // Ten days later, with live traffic in the same batch.
        const later = T0 + 10 * 86_400_000;
        const resent = batchOf([
          reading(11n, T0, { receivedAt: later }),
          reading(11n, T0 + 5, { seq: 1, receivedAt: later }),
          reading(13n, later, { receivedAt: later }),
        ]);
        expectWritten(await store.write(resent), { storedMessages: 1, duplicateMessages: 1 });
        expect(ids(await collect(store.points({})))).toEqual(['11/0', '11/1', '12/0', '13/0']);
      });

      it('recognises a rejected message resent within the hour', async () => {
        const store = await fresh();
        expectWritten(await store.write(batchOf([], [rejection(21n, T0)])), { storedMessages: 1, duplicateMessages: 0 });
        expectWritten(await store.write(batchOf([], [rejection(21n, T0 + 3_000_000)])), { storedMessages: 0, duplicateMessages: 1 });
        expect(await store.rejections({})).toHaveLength(1);
      });

      it('keeps concurrent writers from interfering', async () => {
        const store = await fresh();
        // 20 batches of 50 messages; neighbouring batches share 25 ids.
        const batches = Array.from({ length: 20 }, (_, k) => batchOf(Array.from({ length: 50 }, (_, i) => reading(BigInt(k * 25 + i + 1), T0 + k * 25 + i))));
        const results = await Promise.all(batches.map((b) => store.write(b)));
        const distinct = 19 * 25 + 50;
        expectWritten(
          { storedMessages: results.reduce((n, r) => n + r.storedMessages, 0), duplicateMessages: results.reduce((n, r) => n + r.duplicateMessages, 0) },
          { storedMessages: distinct, duplicateMessages: 20 * 50 - distinct },
        );
        expect(await count(store.points({}))).toBe(distinct);
      });
    });

    describe('failed writes', () => {
      it('refuses a batch with a point of an unlisted message and stores none of it', async () => {
        const store = await fresh();
        const good = batchOf([reading(1n, T0), reading(2n, T0 + 1)]);
        const bad: IngestBatch = { ...good, points: [...good.points, reading(99n, T0 + 2)] };
        await rejectsWith(store.write(bad), 'VALIDATION_FAILED');
        expect(await count(store.points({}))).toBe(0);
        // The listed messages were not recorded either: writing them now stores them.
        expectWritten(await store.write(good), { storedMessages: 2, duplicateMessages: 0 });
      });

      it('refuses a batch with a rejection of an unlisted message and stores none of it', async () => {
        const store = await fresh();
        const good = batchOf([reading(1n, T0)]);
        const bad: IngestBatch = { ...good, rejections: [rejection(98n, T0)] };
        await rejectsWith(store.write(bad), 'VALIDATION_FAILED');
        expect(await store.rejections({})).toEqual([]);
        expect(await count(store.points({}))).toBe(0);
        expectWritten(await store.write(good), { storedMessages: 1, duplicateMessages: 0 });
      });

      // A queue (stores/outbox) keeps the batch as JSON and takes it; the store behind it
      // refuses it and the queue sets it aside (tests/influx/outbox.test.ts): nothing for
      // this suite to read, so the test is for stores that write directly.
      if (exact) {
        it('refuses a batch with a time that is not a whole epoch millisecond and stores none of it', async () => {
          const store = await fresh();
          await rejectsWith(store.write(batchOf([reading(1n, T0), reading(2n, T0 + 1.5)])), 'VALIDATION_FAILED', /whole epoch millisecond/);
          await rejectsWith(store.write(batchOf([], [rejection(3n, T0 + 0.25)])), 'VALIDATION_FAILED', /whole epoch millisecond/);
          expect(await count(store.points({}))).toBe(0);
          expect(await store.rejections({})).toEqual([]);
          expectWritten(await store.write(batchOf([reading(1n, T0)])), { storedMessages: 1, duplicateMessages: 0 });
        });
      }
    });

    describe('point queries', () => {
      /**
       * msg  device  family                trial    kind     name     time
       *  1   dev-a   fluid-balance         trial-1  reading  intake   +0
       *  7   dev-c   medication-dispenser  -        event    dispense +5
       *  2   dev-a   fluid-balance         trial-1  reading  intake   +10
       *  5   dev-b   fall-sensor           trial-2  event    fall     +15
       *  3   dev-a   fluid-balance         trial-1  reading  intake   +20
       *  6   dev-b   fall-sensor           trial-2  reading  battery  +25
       *  4   dev-a   fluid-balance         trial-1  reading  output   +30
       */
      const dataset = (): Point[] => {
        const devB = { deviceId: 'dev-b', family: 'fall-sensor', trialId: 'trial-2', participantId: 'p-2' } as const;
        return [
          reading(1n, T0),
          reading(2n, T0 + 10),
          reading(3n, T0 + 20),
          reading(4n, T0 + 30, { name: 'output' }),
          event(5n, T0 + 15, { ...devB, name: 'fall', alertCode: '4.1' }),
          reading(6n, T0 + 25, { ...devB, name: 'battery', unit: '%' }),
          event(7n, T0 + 5, { deviceId: 'dev-c', family: 'medication-dispenser', trialId: null, participantId: null, name: 'dispense' }),
        ];
      };
      const messagesOf = async (store: TelemetryStore, q: PointQuery): Promise<number[]> => (await collect(store.points(q))).map((p) => Number(p.messageId));

      it('filters by device, trial, family, kind, names and time range, in time order', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        expect(await messagesOf(store, {})).toEqual([1, 7, 2, 5, 3, 6, 4]);
        expect(await messagesOf(store, { deviceIds: ['dev-b', 'dev-c'] })).toEqual([7, 5, 6]);
        expect(await messagesOf(store, { trialId: 'trial-2' })).toEqual([5, 6]);
        expect(await messagesOf(store, { family: 'fluid-balance' })).toEqual([1, 2, 3, 4]);
        expect(await messagesOf(store, { kind: 'event' })).toEqual([7, 5]);
        expect(await messagesOf(store, { kind: 'reading' })).toEqual([1, 2, 3, 6, 4]);
        expect(await messagesOf(store, { names: ['intake', 'battery'] })).toEqual([1, 2, 3, 6]);
        expect(await messagesOf(store, { from: T0 + 10, to: T0 + 25 })).toEqual([2, 5, 3]); // [from, to)
        expect(await messagesOf(store, { deviceIds: ['dev-a'], names: ['intake'], from: T0 + 10 })).toEqual([2, 3]);
        expect(await messagesOf(store, { deviceIds: [] })).toEqual([]);
        expect(await messagesOf(store, { names: [] })).toEqual([]);
        expect(await messagesOf(store, { trialId: 'no-such-trial' })).toEqual([]);
      });

      it('orders descending and applies limit after ordering', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        expect(await messagesOf(store, { order: 'desc' })).toEqual([4, 6, 3, 5, 2, 7, 1]);
        expect(await messagesOf(store, { order: 'asc', limit: 3 })).toEqual([1, 7, 2]);
        expect(await messagesOf(store, { order: 'desc', limit: 2 })).toEqual([4, 6]);
        expect(await messagesOf(store, { deviceIds: ['dev-a'], order: 'desc', limit: 1 })).toEqual([4]);
        expect(await messagesOf(store, { limit: 0 })).toEqual([]);
      });

      it('breaks device-time ties by message id (unsigned) and then seq', async () => {
        const store = await fresh();
        const big = 2n ** 63n + 1n; // above the signed 64-bit range
        const points = [big, 30n, 4n].flatMap((id) => [reading(id, T0, { seq: 1 }), reading(id, T0, { seq: 0 })]);
        await store.write(batchOf(points));
        const asc = ['4/0', '4/1', '30/0', '30/1', `${big}/0`, `${big}/1`];
        expect(ids(await collect(store.points({})))).toEqual(asc);
        expect(ids(await collect(store.points({ order: 'desc' })))).toEqual([...asc].reverse());
      });
    });

    describe('release (consent) filter', () => {
      /** p-1 at +0 +100 +199 +200 +300 +450, p-2 at +100, device data at +50. */
      const dataset = (): Point[] => [
        ...[0, 100, 199, 200, 300, 450].map((t, i) => reading(BigInt(i + 1), T0 + t, { participantId: 'p-1' })),
        reading(20n, T0 + 100, { participantId: 'p-2' }),
        reading(30n, T0 + 50, { participantId: null }),
      ];
      const windows: ReleaseWindow[] = [
        { participantId: 'p-1', from: T0 + 100, to: T0 + 200 },
        { participantId: 'p-1', from: T0 + 300, to: T0 + 400 },
        { participantId: 'p-3', from: T0, to: T0 + 1000 }, // a window without data
      ];
      const times = async (store: TelemetryStore, q: PointQuery): Promise<number[]> => (await collect(store.points(q))).map((p) => p.deviceTime - T0);

      it('returns attributed points only inside their participant windows', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        expect(await times(store, { release: { windows, includeDeviceData: false } })).toEqual([100, 199, 300]);
      });

      it('adds device data only when includeDeviceData', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        expect(await times(store, { release: { windows, includeDeviceData: true } })).toEqual([50, 100, 199, 300]);
        expect(await times(store, { release: { windows: [], includeDeviceData: true } })).toEqual([50]);
        expect(await times(store, { release: { windows: [], includeDeviceData: false } })).toEqual([]);
      });

      it('returns a point inside overlapping windows once', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        const overlapping: ReleaseWindow[] = [
          { participantId: 'p-1', from: T0 + 100, to: T0 + 250 },
          { participantId: 'p-1', from: T0 + 150, to: T0 + 350 },
        ];
        expect(await times(store, { release: { windows: overlapping, includeDeviceData: false } })).toEqual([100, 199, 200, 300]);
      });

      it('combines with the other filters', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        const q: PointQuery = { release: { windows, includeDeviceData: true }, from: T0 + 150, order: 'desc' };
        expect(await times(store, q)).toEqual([300, 199]);
      });

      it('without release every point is returned', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        expect(await count(store.points({}))).toBe(8);
      });
    });

    describe('aggregate', () => {
      /** dev-a (p-1) intake 1,2,3 in [0,1s), 10 at 1s, 4,6 in [2s,3s); output 7; dev-b (device data) intake 5; one event. */
      const dataset = (): Point[] => [
        reading(1n, T0, { value: 1 }),
        reading(2n, T0 + 100, { value: 2 }),
        reading(3n, T0 + 999, { value: 3 }),
        reading(4n, T0 + 1000, { value: 10 }),
        reading(5n, T0 + 2500, { value: 4 }),
        reading(5n, T0 + 2500, { value: 6, seq: 1 }),
        reading(6n, T0 + 20, { value: 7, name: 'output' }),
        reading(7n, T0 + 10, { value: 5, deviceId: 'dev-b', participantId: null }),
        event(8n, T0 + 5, { name: 'intake' }), // events never count
      ];
      const sorted = (buckets: Awaited<ReturnType<TelemetryStore['aggregate']>>) =>
        [...buckets].sort((a, b) => a.start - b.start || cmp(a.deviceId, b.deviceId) || cmp(a.name, b.name));
      const bucket = (start: number, deviceId: string, name: string, values: number[]) => ({
        start: T0 + start,
        deviceId,
        name,
        count: values.length,
        min: Math.min(...values),
        max: Math.max(...values),
        mean: values.reduce((a, b) => a + b, 0) / values.length,
        sum: values.reduce((a, b) => a + b, 0),
      });

      it('buckets readings per device and name with count, min, max, mean and sum', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        expect(sorted(await store.aggregate({ bucketMs: 1000 }))).toEqual([
          bucket(0, 'dev-a', 'intake', [1, 2, 3]),
          bucket(0, 'dev-a', 'output', [7]),
          bucket(0, 'dev-b', 'intake', [5]),
          bucket(1000, 'dev-a', 'intake', [10]),
          bucket(2000, 'dev-a', 'intake', [4, 6]),
        ]);
      });

      it('applies device, name and time filters', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        const q = { bucketMs: 1000, deviceIds: ['dev-a'], names: ['intake'], from: T0 + 100, to: T0 + 2000 };
        expect(sorted(await store.aggregate(q))).toEqual([bucket(0, 'dev-a', 'intake', [2, 3]), bucket(1000, 'dev-a', 'intake', [10])]);
      });

      it('applies the release filter', async () => {
        const store = await fresh();
        await store.write(batchOf(dataset()));
        const release = { windows: [{ participantId: 'p-1', from: T0, to: T0 + 1000 }], includeDeviceData: false };
        expect(sorted(await store.aggregate({ bucketMs: 1000, release }))).toEqual([
          bucket(0, 'dev-a', 'intake', [1, 2, 3]),
          bucket(0, 'dev-a', 'output', [7]),
        ]);
        const withDeviceData = { ...release, includeDeviceData: true };
        expect(sorted(await store.aggregate({ bucketMs: 1000, release: withDeviceData }))).toHaveLength(3);
      });
    });

    describe('streaming', () => {
      it(`streams ${largeRange} points in order without holding them`, async () => {
        const store = await fresh();
        const { expectedSum } = await writeLargeRange(store, largeRange);

        // Count, sum and check order while iterating; nothing is collected.
        let n = 0;
        let sum = 0;
        let outOfOrder = 0;
        let prev: Point | undefined;
        for await (const p of store.points({ from: T0, to: T0 + largeRange * 1000 })) {
          if (prev && comparePoints(prev, p) >= 0) outOfOrder++;
          prev = p;
          n++;
          sum += p.kind === 'reading' ? p.value : 0;
        }
        expect(outOfOrder).toBe(0);
        expect(n).toBe(largeRange);
        expect(sum).toBe(expectedSum);
      }, 300_000);

      it('releases a stream the reader leaves early; the store keeps working', async () => {
        const store = await fresh();
        await writeLargeRange(store, 20_000);
        let seen = 0;
        for await (const _ of store.points({})) {
          if (++seen === 10) break;
        }
        expect(seen).toBe(10);
        await store.ping();
        expectWritten(await store.write(batchOf([reading(1n, T0 - 1)])), { storedMessages: 1, duplicateMessages: 0 });
        expect(await count(store.points({ order: 'desc', limit: 5 }))).toBe(5);
      });

      it('lets writes proceed while a stream is open', async () => {
        const store = await fresh();
        await writeLargeRange(store, 20_000);
        let n = 0;
        let prev: Point | undefined;
        let outOfOrder = 0;
        for await (const p of store.points({})) {
          if (n === 100) {
            const late = batchOf([reading(1n, T0 + 10_000_000_000)]);
            expectWritten(await store.write(late), { storedMessages: 1, duplicateMessages: 0 });
          }
          if (prev && comparePoints(prev, p) >= 0) outOfOrder++;
          prev = p;
          n++;
        }
        expect(outOfOrder).toBe(0);
        expect(n).toBeGreaterThanOrEqual(20_000);
        expect(await count(store.points({}))).toBe(20_001);
      });
    });

    describe('eraseParticipant', () => {
      it("removes only that participant's points and returns how many", async () => {
        const store = await fresh();
        await store.write(
          batchOf([
            reading(1n, T0, { participantId: 'p-1' }),
            reading(1n, T0, { participantId: 'p-1', seq: 1 }),
            event(2n, T0 + 1, { participantId: 'p-1' }),
            reading(3n, T0 + 2, { participantId: 'p-2' }),
            reading(4n, T0 + 3, { participantId: null }),
          ]),
        );
        expect(await store.eraseParticipant('p-1')).toBe(3);
        expect(ids(await collect(store.points({})))).toEqual(['3/0', '4/0']);
        expect(await store.eraseParticipant('p-1')).toBe(0);
        expect(await store.eraseParticipant('nobody')).toBe(0);
      });

      it('does not bring erased points back when a message is redelivered', async () => {
        const store = await fresh();
        const batch = batchOf([reading(1n, T0, { participantId: 'p-1' })]);
        await store.write(batch);
        await store.eraseParticipant('p-1');
        expectWritten(await store.write(batch), { storedMessages: 0, duplicateMessages: 1 });
        expect(await count(store.points({}))).toBe(0);
      });

      it("keeps that participant's rejections counted, without participant, payload or message", async () => {
        const store = await fresh();
        const place = { siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1' };
        const mine = rejection(1n, T0, { ...place, participantId: 'p-1', payload: '{"v":73.9137}', message: 'quotes 73.9137' });
        const theirs = rejection(2n, T0 + 1, { ...place, participantId: 'p-2' });
        await store.write(batchOf([], [mine, theirs]));
        await store.eraseParticipant('p-1');
        expect(await store.rejections({})).toEqual([theirs, { ...mine, participantId: null, payload: null, message: '' }]);
        expect(await store.rejectionCounts({})).toEqual([{ deviceId: 'dev-a', code: 'SCHEMA_VIOLATION', count: 2 }]);
      });
    });

    describe('rejections', () => {
      it('keeps rejected messages out of points and returns every rejection field', async () => {
        const store = await fresh();
        const rej = rejection(2n, T0 + 5, {
          profileId: null,
          siteId: 'site-a',
          roomId: 'room-1',
          trialId: 'trial-1',
          participantId: 'p-1',
          topic: 'arena/dev-a/senml',
          code: 'UNIT_UNKNOWN',
          path: '$[0].u',
          message: 'unit "furlong" is not allowed',
          payload: '[{"n":"intake","u":"furlong","v":3}]',
        });
        const batch = batchOf([reading(1n, T0)], [rej]);
        expectWritten(await store.write(batch), { storedMessages: 2, duplicateMessages: 0 });
        expect(ids(await collect(store.points({})))).toEqual(['1/0']);
        expect(await store.rejections({})).toEqual([rej]);
        // A redelivered rejected message is a duplicate too.
        expectWritten(await store.write(batch), { storedMessages: 0, duplicateMessages: 2 });
        expect(await store.rejections({})).toHaveLength(1);
      });

      it('lists newest first with device, time and limit filters (default limit 100)', async () => {
        const store = await fresh();
        const rejections = Array.from({ length: 105 }, (_, i) => rejection(BigInt(i + 1), T0 + i * 10, { deviceId: i % 2 === 0 ? 'dev-a' : 'dev-b' }));
        await store.write(batchOf([], rejections));
        const all = await store.rejections({});
        expect(all).toHaveLength(100);
        expect(all[0]?.receivedAt).toBe(T0 + 1040);
        expect(all.every((r, i) => i === 0 || (all[i - 1]?.receivedAt ?? 0) > r.receivedAt)).toBe(true);

        const q = { deviceIds: ['dev-a'], from: T0 + 100, to: T0 + 200, limit: 3 };
        expect((await store.rejections(q)).map((r) => r.receivedAt - T0)).toEqual([180, 160, 140]);
        expect(await store.rejections({ deviceIds: [] })).toEqual([]);
      });

      it('counts per device and code', async () => {
        const store = await fresh();
        await store.write(
          batchOf(
            [reading(9n, T0)],
            [
              rejection(1n, T0, { deviceId: 'dev-a', code: 'SCHEMA_VIOLATION' }),
              rejection(2n, T0 + 1, { deviceId: 'dev-a', code: 'SCHEMA_VIOLATION' }),
              rejection(3n, T0 + 2, { deviceId: 'dev-a', code: 'UNIT_UNKNOWN' }),
              rejection(4n, T0 + 3, { deviceId: 'dev-b', code: 'PAYLOAD_NOT_JSON' }),
            ],
          ),
        );
        const byKey = (cs: Awaited<ReturnType<TelemetryStore['rejectionCounts']>>) =>
          [...cs].sort((a, b) => cmp(a.deviceId, b.deviceId) || cmp(a.code, b.code));
        expect(byKey(await store.rejectionCounts({}))).toEqual([
          { deviceId: 'dev-a', code: 'SCHEMA_VIOLATION', count: 2 },
          { deviceId: 'dev-a', code: 'UNIT_UNKNOWN', count: 1 },
          { deviceId: 'dev-b', code: 'PAYLOAD_NOT_JSON', count: 1 },
        ]);
        expect(byKey(await store.rejectionCounts({ deviceIds: ['dev-b'] }))).toEqual([{ deviceId: 'dev-b', code: 'PAYLOAD_NOT_JSON', count: 1 }]);
        expect(byKey(await store.rejectionCounts({ from: T0 + 1, to: T0 + 3 }))).toEqual([
          { deviceId: 'dev-a', code: 'SCHEMA_VIOLATION', count: 1 },
          { deviceId: 'dev-a', code: 'UNIT_UNKNOWN', count: 1 },
        ]);
      });
    });

    describe('close', () => {
      it('is idempotent and later calls fail with STORE_UNAVAILABLE', async () => {
        const store = await fresh();
        await store.close();
        await store.close();
        await rejectsWith(store.ping(), 'STORE_UNAVAILABLE');
        await rejectsWith(store.write(batchOf([reading(1n, T0)])), 'STORE_UNAVAILABLE');
        await rejectsWith(store.eraseParticipant('p-1'), 'STORE_UNAVAILABLE');
      });
    });

    capabilityContract(opts.offers, fresh, expectWritten);
  });
}

/**
 * The optional operations: the adapter offers exactly those declared; each offered one
 * is held to its promise in kernel/ports.ts, each other one is shown absent by name.
 */
function capabilityContract(
  offers: readonly OptionalCapability[],
  fresh: () => Promise<TelemetryStore>,
  expectWritten: (actual: WriteResult, expected: WriteResult) => void,
): void {
  const behaviour: Record<OptionalCapability, [title: string, body: (store: Required<TelemetryStore>) => Promise<void>]> = {
    expireRejections: [
      'deletes the rejections received before the bound, keeps points and message ids',
      async (store) => {
        await store.write(batchOf([reading(9n, T0)], [rejection(1n, T0), rejection(2n, T0 + 10), rejection(3n, T0 + 20)]));
        expect(await store.rejections({})).toHaveLength(3);
        expect(await store.expireRejections(T0 + 10)).toBe(1); // [.., before)
        expect((await store.rejections({})).map((r) => r.messageId)).toEqual([3n, 2n]);
        expect(await store.rejectionCounts({})).toEqual([{ deviceId: 'dev-a', code: 'SCHEMA_VIOLATION', count: 2 }]);
        expect(await count(store.points({}))).toBe(1);
        // Still known: a redelivery of the expired message is a duplicate, not a new rejection.
        expectWritten(await store.write(batchOf([], [rejection(1n, T0)])), { storedMessages: 0, duplicateMessages: 1 });
        expect(await store.rejections({})).toHaveLength(2);
      },
    ],
    deleteTrial: [
      "deletes the trial's points and rejections, returns the points, and a redelivery brings none back",
      async (store) => {
        const trial1 = batchOf([reading(1n, T0), reading(1n, T0, { seq: 1 })], [rejection(3n, T0 + 2, { trialId: 'trial-1' })]);
        const trial2 = batchOf([reading(2n, T0 + 1, { trialId: 'trial-2' })], [rejection(4n, T0 + 3, { trialId: 'trial-2' })]);
        const both: IngestBatch = {
          messages: [...trial1.messages, ...trial2.messages],
          points: [...trial1.points, ...trial2.points],
          rejections: [...trial1.rejections, ...trial2.rejections],
        };
        await store.write(both);
        expect(await count(store.points({}))).toBe(3);
        expect(await store.deleteTrial('trial-1')).toBe(2);
        expect(ids(await collect(store.points({})))).toEqual(['2/0']);
        expect((await store.rejections({})).map((r) => r.messageId)).toEqual([4n]);
        expectWritten(await store.write(both), { storedMessages: 0, duplicateMessages: 4 });
        expect(ids(await collect(store.points({})))).toEqual(['2/0']);
        expect(await store.rejections({})).toHaveLength(1);
        expect(await store.deleteTrial('trial-1')).toBe(0);
      },
    ],
    archiveTrial: [
      "moves the trial's points out of points(), returns how many, and an erasure still reaches them",
      async (store) => {
        await store.write(
          batchOf([
            reading(1n, T0, { participantId: 'p-1' }),
            reading(2n, T0 + 1, { participantId: 'p-1', trialId: 'trial-2' }),
            reading(3n, T0 + 2, { participantId: 'p-2' }),
          ]),
        );
        expect(await count(store.points({}))).toBe(3);
        expect(await store.archiveTrial('trial-1')).toBe(2);
        expect(ids(await collect(store.points({})))).toEqual(['2/0']);
        expect(await store.eraseParticipant('p-1')).toBe(2); // one in the store, one archived
        expect(await store.archiveTrial('trial-1')).toBe(0);
      },
    ],
    exportTo: [
      'writes the same dataset file as the point stream rendered by datasets/, with the same row counts',
      async (store) => {
        await store.write(
          batchOf([
            reading(1n, T0, { value: 72.45 }),
            event(2n, T0 + 5, { attributes: { posture: 'lying, on "floor"', confidence: 0.5 } }),
            reading(3n, T0 + 10, { participantId: 'p-2', value: -0.125 }),
            reading(4n, T0 + 15, { participantId: null, value: 1e21 }),
            reading(5n, T0 + 500, { value: 3 }), // outside p-1's window
            reading(6n, T0 + 20, { trialId: 'trial-2' }),
          ]),
        );
        const spec: DatasetSpec = {
          query: { trialId: 'trial-1', release: { windows: [{ participantId: 'p-1', from: T0, to: T0 + 100 }], includeDeviceData: true } },
          columns: columnsFor('research'),
          ctx: { audience: 'research', trial: { baseline: null, interventionFrom: null }, pseudonym: (id) => `P-${id}`, alarmRef: (id) => `A-${id}` },
        };
        for (const format of ['csv', 'ndjson'] as const) {
          const own = await writeExport(store, spec, format, exportDir());
          const streamed = await writeExport({ points: (q) => store.points(q) }, spec, format, exportDir());
          expect(own.rows, format).toEqual({ total: 3, readings: 2, events: 1, deviceData: 1 });
          expect(own.rows, format).toEqual(streamed.rows);
          expect(own.sha256, format).toBe(streamed.sha256);
        }
      },
    ],
    indicatorCounts: [
      'counts what reports/point-counts.ts counts from the point stream',
      async (store) => {
        await indicatorParity(store);
      },
    ],
  };

  describe('optional capabilities', () => {
    for (const c of OPTIONAL_CAPABILITIES) {
      if (!offers.includes(c)) {
        it(`does not offer ${c}: ${WITHOUT[c]}`, async () => {
          expect((await fresh())[c]).toBeUndefined();
        });
        continue;
      }
      const [title, body] = behaviour[c];
      it(`${c}: ${title}`, async () => {
        const store = await fresh();
        expect(store[c], `${c} is declared offered`).toBeTypeOf('function');
        await body(store as Required<TelemetryStore>);
      });
    }
  });
}

/** A fresh folder for one exportTo file, removed after the run. */
function exportDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arena-contract-export-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---- fixtures ----

/** 2025-01-01T00:00:00Z; a whole second, so 1 s buckets start on it. */
export const T0 = Date.UTC(2025, 0, 1);

type Overrides<T> = { -readonly [K in keyof T]?: T[K] };

export function reading(messageId: MessageId, deviceTime: number, o: Overrides<Reading> = {}): Reading {
  return {
    kind: 'reading',
    messageId,
    seq: 0,
    deviceId: 'dev-a',
    profileId: 'profile-a',
    family: 'fluid-balance',
    siteId: 'site-1',
    roomId: 'room-1',
    trialId: 'trial-1',
    participantId: 'p-1',
    name: 'intake',
    value: 1,
    unit: 'mL',
    deviceTime,
    receivedAt: deviceTime + 50,
    clockSkewed: false,
    ...o,
  };
}

export function event(messageId: MessageId, deviceTime: number, o: Overrides<HubEvent> = {}): HubEvent {
  return {
    kind: 'event',
    messageId,
    seq: 0,
    deviceId: 'dev-a',
    profileId: 'profile-a',
    family: 'fall-sensor',
    siteId: 'site-1',
    roomId: 'room-1',
    trialId: 'trial-1',
    participantId: 'p-1',
    name: 'fall',
    alertCode: null,
    dispenseCode: null,
    severity: 30,
    attributes: {},
    deviceTime,
    receivedAt: deviceTime + 50,
    clockSkewed: false,
    ...o,
  };
}

export function rejection(messageId: MessageId, receivedAt: number, o: Overrides<Rejection> = {}): Rejection {
  return {
    messageId,
    deviceId: 'dev-a',
    profileId: 'profile-a',
    siteId: null,
    roomId: null,
    trialId: null,
    participantId: null,
    topic: 'arena/dev-a/data',
    code: 'SCHEMA_VIOLATION',
    path: '$.v',
    message: 'expected a number',
    payload: '{"v":"x"}',
    receivedAt,
    ...o,
  };
}

/** A consistent batch: one message entry per distinct messageId among the points and rejections. */
export function batchOf(points: readonly Point[], rejections: readonly Rejection[] = []): IngestBatch {
  const messages = new Map<MessageId, IngestBatch['messages'][number]>();
  for (const x of [...points, ...rejections]) {
    if (!messages.has(x.messageId)) messages.set(x.messageId, { id: x.messageId, deviceId: x.deviceId, receivedAt: x.receivedAt });
  }
  return { messages: [...messages.values()], points, rejections };
}

/**
 * Writes n readings (n a multiple of 10) as messages of 10 points each, two messages per
 * device time (so ties are broken by message id), with pseudo-random ids and batches
 * written newest first, so an adapter cannot pass by returning insertion order.
 * Point k has value k.
 */
async function writeLargeRange(store: TelemetryStore, n: number, pointsPerBatch = 5_000): Promise<{ expectedSum: number }> {
  const perMessage = 10;
  const batchStarts: number[] = [];
  for (let start = 0; start < n; start += pointsPerBatch) batchStarts.push(start);
  for (const start of batchStarts.reverse()) {
    const points: Reading[] = [];
    for (let k = start; k < Math.min(start + pointsPerBatch, n); k++) {
      const m = Math.floor(k / perMessage);
      points.push(reading(mix64(BigInt(m)), T0 + Math.floor(m / 2) * 1000, { seq: k % perMessage, value: k }));
    }
    await store.write(batchOf(points));
  }
  return { expectedSum: (n * (n - 1)) / 2 };
}

/** splitmix64: distinct, well-spread 64-bit ids from a counter. */
function mix64(x: bigint): bigint {
  const M = (1n << 64n) - 1n;
  let z = (x + 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}

/** Port order: device time, then message id, then seq. */
function comparePoints(a: Point, b: Point): number {
  return a.deviceTime - b.deviceTime || cmp(a.messageId, b.messageId) || a.seq - b.seq;
}

function cmp<T extends string | bigint>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** For small result sets only; the streaming tests never collect. */
async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

async function count(it: AsyncIterable<unknown>): Promise<number> {
  let n = 0;
  for await (const _ of it) n++;
  return n;
}

const ids = (points: readonly Point[]): string[] => points.map((p) => `${p.messageId}/${p.seq}`);

/**
 * A small trial as reports/ asks about it: one participant's baseline week, two devices,
 * a dose, a fall, the hub's alarm events with response times, a rejection. The store's own
 * counts must equal those reports/point-counts.ts takes from its point stream (the full
 * known answers: tests/reports/indicators.test.ts).
 */
async function indicatorParity(store: Required<TelemetryStore>): Promise<void> {
  const cell = { period: 'baseline', bucket: T0 };
  const hub = { deviceId: ALARM_SOURCE_ID, family: 'hub', participantId: 'p-1' } as const;
  const batch = batchOf(
    [
      reading(1n, T0 + 1_000, { name: 'weight', value: 70 }),
      reading(2n, T0 + 61_000, { name: 'weight', value: 70.5 }),
      reading(3n, T0 + 4_000_000, { name: 'weight', value: 71 }),
      event(4n, T0 + 2_000, { deviceId: 'dev-f', name: 'fall', alertCode: '4.1', severity: 40 }),
      event(5n, T0 + 2_500, { ...hub, name: 'alarm_raised', alertCode: '4.1', attributes: { alarmId: 'a-1', sourceDeviceId: 'dev-f' } }),
      event(6n, T0 + 32_500, {
        ...hub,
        name: 'alarm_acknowledged',
        alertCode: '4.1',
        attributes: { alarmId: 'a-1', sourceDeviceId: 'dev-f', secondsSinceRaised: 30 },
      }),
      event(7n, T0 + 95_000, {
        ...hub,
        name: 'alarm_resolved',
        alertCode: '4.1',
        attributes: { alarmId: 'a-1', sourceDeviceId: 'dev-f', secondsSinceRaised: 92.5 },
      }),
      event(8n, T0 + 3_000, { deviceId: 'dev-d', name: 'dose_taken', dispenseCode: 'D2' }),
      reading(9n, T0 + 5_000, { participantId: 'p-2', name: 'weight' }),
      reading(11n, T0 + 6_000, { participantId: 'p-1', name: 'fluid_intake', value: 800, unit: 'mL' }),
      reading(12n, T0 + 6_500, { participantId: 'p-1', name: 'fluid_output', value: 650, unit: 'mL' }),
    ],
    [rejection(10n, T0 + 7_000, { trialId: 'trial-1', participantId: 'p-1' })],
  );
  await store.write(batch);
  const slice = { ...cell, participantId: 'p-1', from: T0, to: T0 + 7 * 86_400_000 };
  const query: IndicatorQuery = {
    trialId: 'trial-1',
    alarmSourceId: ALARM_SOURCE_ID,
    participants: [slice],
    devices: [
      { ...slice, deviceId: 'dev-a', intervalMs: 60_000 },
      { ...slice, deviceId: 'dev-f', intervalMs: 3_600_000 },
    ],
    days: [0, 1].map((d) => ({ ...cell, participantId: 'p-1', day: T0 + d * 86_400_000, measurement: 'weight', lateAlertCode: '5.3.2' })),
    fluidDays: [
      { ...cell, key: 'fluid_days_in_target', participantId: 'p-1', day: T0, intake: 'fluid_intake', output: 'fluid_output', minNetMl: -500, maxNetMl: 100 },
    ],
    durations: [{ key: 'response', events: ['alarm_acknowledged', 'alarm_resolved'] }],
    histogramBounds: [60, 300],
  };
  const sorted = (c: IndicatorCounts) =>
    Object.fromEntries(
      Object.entries(c).map(([k, rows]) => [k, (rows as object[]).map((r) => JSON.stringify(Object.fromEntries(Object.entries(r).sort()))).sort()]),
    );
  const own = sorted(await store.indicatorCounts(query));
  expect(own.events).toHaveLength(5); // the fall, the dose and the hub's three alarm events: not equal by being empty
  expect(own.fluidDays).toHaveLength(1); // 800 − 650 mL, above the day's maximum
  expect(own).toEqual(sorted(await pointIndicatorReader(store).indicatorCounts(query)));
}
