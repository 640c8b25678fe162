import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, describe, expect, it } from 'vitest';
import type { PointQuery, TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { T0, batchOf, event, reading } from '../contract/telemetry-store.contract.js';

/**
 * Newest-first reads with a limit (a device's latest readings, the ward board) read
 * `points` backwards in growing windows from where the series end (point_ranges,
 * stores/duckdb/point-ranges.ts). They must return exactly what a full read in
 * descending order returns, first `limit` rows, whatever the gaps in the history.
 */
const root = mkdtempSync(join(tmpdir(), 'arena-latest-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
const freshPath = (): string => join(root, `telemetry-${++files}.duckdb`);

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

async function collect(points: AsyncIterable<Point>): Promise<string[]> {
  const out: string[] = [];
  for await (const p of points) out.push(`${p.deviceId}/${p.name}/${p.deviceTime}/${p.messageId}`);
  return out;
}

/** What a newest-first read with a limit must return: the full read, descending, cut. */
async function expectLikeFullRead(store: TelemetryStore, q: PointQuery & { limit: number }): Promise<void> {
  const { limit, ...unlimited } = q;
  const all = await collect(store.points({ ...unlimited, order: 'desc' }));
  expect(await collect(store.points({ ...q, order: 'desc' }))).toEqual(all.slice(0, limit));
}

/** Three devices over 60 days: one busy until now, one that went quiet 40 days ago, one weekly scale. */
function history(): Point[] {
  const out: Point[] = [];
  let id = 1n;
  for (let t = T0; t < T0 + 60 * DAY; t += 10 * 60_000) {
    out.push(reading(id++, t, { deviceId: 'dev-busy', name: 'battery', participantId: null }));
    if (t < T0 + 20 * DAY) out.push(reading(id++, t + 1, { deviceId: 'dev-quiet', name: 'intake' }));
  }
  for (let t = T0; t < T0 + 60 * DAY; t += 7 * DAY) {
    out.push(reading(id++, t, { deviceId: 'dev-scale', name: 'weight' }));
    out.push(event(id++, t + 5, { deviceId: 'dev-scale', name: 'weighed' }));
  }
  return out;
}

describe('latest values', () => {
  it('newest first with a limit returns what a full descending read returns, across gaps and filters', async () => {
    const store = await openDuckDbTelemetryStore({ path: freshPath() });
    try {
      const points = history();
      for (let i = 0; i < points.length; i += 500) await store.write(batchOf(points.slice(i, i + 500)));
      await expectLikeFullRead(store, { deviceIds: ['dev-busy'], kind: 'reading', limit: 100 });
      await expectLikeFullRead(store, { deviceIds: ['dev-quiet'], kind: 'reading', limit: 3 });
      // Fewer points than the limit: every window down to the first point is read.
      await expectLikeFullRead(store, { deviceIds: ['dev-scale'], kind: 'reading', limit: 100 });
      await expectLikeFullRead(store, { deviceIds: ['dev-scale'], kind: 'event', limit: 1 });
      await expectLikeFullRead(store, { deviceIds: ['dev-scale', 'dev-quiet'], limit: 20 });
      await expectLikeFullRead(store, { deviceIds: ['dev-busy'], from: T0 + 30 * DAY, to: T0 + 30 * DAY + 5 * HOUR, limit: 1000 });
      await expectLikeFullRead(store, { deviceIds: ['dev-quiet'], names: ['intake'], to: T0 + 2 * DAY, limit: 7 });
      await expectLikeFullRead(store, { names: ['weight'], limit: 4 });
      await expectLikeFullRead(store, { limit: 50 });
      await expectLikeFullRead(store, { deviceIds: ['dev-none'], limit: 5 });
      await expectLikeFullRead(store, { deviceIds: ['dev-busy'], names: [], limit: 5 });
      // Consent-filtered: a participant released for ten days in the middle.
      const release = { windows: [{ participantId: 'p-1', from: T0 + 5 * DAY, to: T0 + 15 * DAY }], includeDeviceData: false };
      await expectLikeFullRead(store, { deviceIds: ['dev-quiet'], release, limit: 10 });
      await expectLikeFullRead(store, { deviceIds: ['dev-scale'], release, limit: 10 });
      await expect(collect(store.points({ order: 'desc', limit: -1 }))).rejects.toMatchObject({ code: 'VALIDATION_FAILED' });
    } finally {
      await store.close();
    }
  });

  it('a late point with an old device time and an erasure keep the latest right', async () => {
    const store = await openDuckDbTelemetryStore({ path: freshPath() });
    try {
      await store.write(batchOf([reading(1n, T0, { participantId: 'p-1' }), reading(2n, T0 + 10 * DAY, { participantId: 'p-2' })]));
      // A device catching up: received now, measured before everything stored.
      await store.write(batchOf([reading(3n, T0 - 30 * DAY, { participantId: 'p-1' })]));
      await expectLikeFullRead(store, { deviceIds: ['dev-a'], limit: 3 });
      await store.eraseParticipant('p-2');
      expect(await collect(store.points({ deviceIds: ['dev-a'], order: 'desc', limit: 1 }))).toEqual([`dev-a/intake/${T0}/1`]);
      await store.eraseParticipant('p-1');
      expect(await collect(store.points({ deviceIds: ['dev-a'], order: 'desc', limit: 1 }))).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('fills point_ranges once for a file made before it', async () => {
    const path = freshPath();
    const first = await openDuckDbTelemetryStore({ path });
    const points = history();
    for (let i = 0; i < points.length; i += 2000) await first.write(batchOf(points.slice(i, i + 2000)));
    await first.close();
    const instance = await DuckDBInstance.create(path);
    const c = await instance.connect();
    await c.run('DROP TABLE point_ranges');
    c.closeSync();
    instance.closeSync();

    const store = await openDuckDbTelemetryStore({ path });
    try {
      await expectLikeFullRead(store, { deviceIds: ['dev-quiet'], limit: 5 });
      await expectLikeFullRead(store, { deviceIds: ['dev-scale'], kind: 'event', limit: 1 });
    } finally {
      await store.close();
    }
    const check = await DuckDBInstance.create(path);
    const cc = await check.connect();
    try {
      const rows = await cc.runAndReadAll(`SELECT device_id, kind, name, first_time FROM point_ranges ORDER BY ALL`);
      expect(rows.getRows().map((r) => r.slice(0, 3))).toEqual([
        ['dev-busy', 'reading', 'battery'],
        ['dev-quiet', 'reading', 'intake'],
        ['dev-scale', 'event', 'weighed'],
        ['dev-scale', 'reading', 'weight'],
      ]);
    } finally {
      cc.closeSync();
      check.closeSync();
    }
  });
});
