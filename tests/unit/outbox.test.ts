import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HubError } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { IngestBatch, Point, WriteResult } from '../../kernel/telemetry.js';
import { withOutbox, type OutboxOptions } from '../../stores/outbox/outbox.js';
import { T0, batchOf, reading } from '../contract/telemetry-store.contract.js';
import { until } from '../helpers/poll.js';

/**
 * The outbox's journal options (the all-in-one hub's use, hub/start.ts), against an
 * inner store the test holds back at will. InfluxDB outages: tests/influx/outbox.test.ts.
 */
const logger = createLogger('silent');
const root = mkdtempSync(join(tmpdir(), 'arena-journal-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const options = (o: Partial<OutboxOptions> = {}): OutboxOptions => ({
  dir: join(root, `j-${++dirs}`),
  maxBytes: 1 << 20,
  logger,
  retry: { minMs: 5, maxMs: 20 },
  ...o,
});

/** An in-memory store whose writes wait while it is held, keeping what it was given. */
type GatedStore = TelemetryStore & { readonly writes: IngestBatch[]; hold(): void; release(): void; down(): void };

function gatedStore(): GatedStore {
  const writes: IngestBatch[] = [];
  const seen = new Set<bigint>();
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let unavailable = false;
  return {
    writes,
    down() {
      unavailable = true;
    },
    hold() {
      gate = new Promise((r) => (open = r));
    },
    release() {
      open?.();
      gate = undefined;
    },
    async write(b) {
      await gate;
      if (unavailable) throw new HubError('STORE_UNAVAILABLE', 'down');
      writes.push(b);
      let stored = 0;
      for (const m of b.messages) if (!seen.has(m.id)) seen.add(m.id), stored++;
      return { storedMessages: stored, duplicateMessages: b.messages.length - stored };
    },
    async *points() {
      for (const b of writes) yield* b.points;
    },
    aggregate: async () => [],
    rejections: async () => [],
    rejectionCounts: async () => [],
    eraseParticipant: async () => 0,
    ping: async () => undefined,
    close: async () => undefined,
  };
}

const batchNo = (k: number): IngestBatch => batchOf([reading(BigInt(k + 1), T0 + k)]);

async function collect(it: AsyncIterable<Point>): Promise<Point[]> {
  const out: Point[] = [];
  for await (const p of it) out.push(p);
  return out;
}

describe('the outbox as an ingest journal', () => {
  it('acknowledges before the store has the batch, and a read waits until it has (readYourWrites)', async () => {
    const inner = gatedStore();
    inner.hold();
    const store = await withOutbox(inner, options({ readYourWrites: true, drainOnClose: true }));
    await store.write(batchNo(0)); // resolves while the store is held: the journal is the point of durability
    expect(inner.writes).toHaveLength(0);
    let read: Point[] | undefined;
    const reading = collect(store.points({})).then((p) => (read = p));
    // Waits out a read that would not wait for the journal: an absence, not a condition to poll.
    await new Promise((r) => setTimeout(r, 50));
    expect(read).toBeUndefined(); // still waiting for the journal
    inner.release();
    await reading;
    expect(read).toHaveLength(1);
    await store.close();
  });

  it('merges a backlog into few store writes and reports what the store found duplicate', async () => {
    const inner = gatedStore();
    inner.hold();
    const delivered: WriteResult[] = [];
    const store = await withOutbox(inner, options({ onDelivered: (r) => delivered.push(r) }));
    for (let k = 0; k < 50; k++) await store.write(batchNo(k));
    for (let k = 0; k < 10; k++) await store.write(batchNo(k)); // redeliveries
    inner.release();
    await store.drained();
    expect(inner.writes.length).toBeLessThan(10); // not one write per queued batch
    expect(inner.writes.flatMap((b) => b.messages)).toHaveLength(60);
    expect(delivered.reduce((n, r) => n + r.storedMessages, 0)).toBe(50);
    expect(delivered.reduce((n, r) => n + r.duplicateMessages, 0)).toBe(10);
    await store.close();
  });

  it("holds writes while full (whenFull: 'wait') and lets them through as delivery makes room", async () => {
    const inner = gatedStore();
    inner.hold();
    const line = 1200; // about one batch's line
    const store = await withOutbox(inner, options({ maxBytes: 4 * line, whenFull: 'wait' }));
    const settled: number[] = [];
    const writes = Array.from({ length: 12 }, (_, k) => store.write(batchNo(k)).then(() => settled.push(k)));
    // Full: the next line does not fit. Appends are taken in order, so the rest wait behind it.
    await until('the queue fills', () => settled.length > 0 && store.pendingBytes() + line > 4 * line);
    expect(settled.length).toBeLessThan(12); // the rest wait, none is refused
    expect(store.pendingBytes()).toBeLessThanOrEqual(4 * line);
    inner.release();
    await Promise.all(writes);
    await store.drained();
    expect(settled).toEqual(Array.from({ length: 12 }, (_, k) => k)); // in order
    expect(inner.writes.flatMap((b) => b.messages)).toHaveLength(12);
    await store.close();
  });

  it('delivers everything before closing (drainOnClose); without it the queue stays for the next open', async () => {
    const drained = gatedStore();
    drained.hold();
    const a = await withOutbox(drained, options({ drainOnClose: true }));
    for (let k = 0; k < 5; k++) await a.write(batchNo(k));
    const closing = a.close();
    drained.release();
    await closing;
    expect(drained.writes.flatMap((b) => b.messages)).toHaveLength(5);

    const kept = gatedStore();
    kept.down();
    const o = options();
    const b = await withOutbox(kept, o);
    for (let k = 0; k < 5; k++) await b.write(batchNo(k));
    await b.close();
    expect(kept.writes).toHaveLength(0);
    const next = gatedStore();
    const c = await withOutbox(next, o);
    await c.drained();
    expect(next.writes.flatMap((x) => x.messages)).toHaveLength(5);
    await c.close();
  });

  it('gathers deliveries for deliveryDelayMs, unless a read is waiting or close() comes', async () => {
    const inner = gatedStore();
    const store = await withOutbox(inner, options({ readYourWrites: true, drainOnClose: true, deliveryDelayMs: 60_000 }));
    for (let k = 0; k < 3; k++) await store.write(batchNo(k));
    // Waits out a delivery that would start at once without the gathering: an absence, not a condition to poll.
    await new Promise((r) => setTimeout(r, 100));
    expect(inner.writes).toHaveLength(0); // gathering
    expect(await collect(store.points({}))).toHaveLength(3); // the read did not wait a minute
    expect(inner.writes).toHaveLength(1); // and got one merged delivery

    await store.write(batchNo(3));
    const started = Date.now();
    await store.close();
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(inner.writes.flatMap((b) => b.messages)).toHaveLength(4);
  });

  it("passes the inner store's dataset export on, after the queue ahead of it is delivered; not when the store has none", async () => {
    const inner = gatedStore();
    let deliveredWhenExported = -1;
    const withExport: TelemetryStore = {
      ...inner,
      write: (b) => inner.write(b),
      exportTo: async () => {
        deliveredWhenExported = inner.writes.length;
        return { total: 0, readings: 0, events: 0, deviceData: 0 };
      },
    };
    const store = await withOutbox(withExport, options({ readYourWrites: true, deliveryDelayMs: 60_000 }));
    await store.write(batchNo(0));
    await store.exportTo!({} as never, '/nonexistent');
    expect(deliveredWhenExported).toBe(1);
    await store.close();

    const plain = await withOutbox(gatedStore(), options());
    expect(plain.exportTo).toBeUndefined(); // the dataset route falls back to streaming points
    await plain.close();
  });
});
