import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { T0, batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';

/** Retention of a closed trial in the DuckDB store: its data goes, the other trials' stays, exactly-once holds. */
const root = mkdtempSync(join(tmpdir(), 'arena-retention-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function trialsOf(points: AsyncIterable<Point>): Promise<(string | null)[]> {
  const out: (string | null)[] = [];
  for await (const p of points) out.push(p.trialId);
  return out;
}

describe('deleting a closed trial', () => {
  it("deletes the trial's points and rejections, keeps the others' and recognises resent messages", async () => {
    const store = await openDuckDbTelemetryStore({ path: join(root, 'telemetry.duckdb') });
    try {
      const closed = [reading(1n, T0, { trialId: 'trial-closed' }), reading(2n, T0 + 1, { trialId: 'trial-closed', deviceId: 'dev-b' })];
      const running = [reading(3n, T0 + 2, { trialId: 'trial-running' }), reading(4n, T0 + 3, { trialId: null, participantId: null })];
      const rejected = [rejection(5n, T0 + 4, { trialId: 'trial-closed' }), rejection(6n, T0 + 5, { trialId: 'trial-running' })];
      await store.write(batchOf([...closed, ...running], rejected));

      expect(await store.deleteTrial('trial-closed')).toBe(2);
      expect(await trialsOf(store.points({}))).toEqual(['trial-running', null]);
      expect((await store.rejections({})).map((r) => r.trialId)).toEqual(['trial-running']);
      // The newest reading of dev-b was the trial's: nothing is left to show.
      expect(await trialsOf(store.points({ deviceIds: ['dev-b'], order: 'desc', limit: 1 }))).toEqual([]);
      expect(await trialsOf(store.points({ deviceIds: ['dev-a'], order: 'desc', limit: 1 }))).toEqual([null]);
      expect(await store.write(batchOf(closed, [rejected[0]!]))).toEqual({ storedMessages: 0, duplicateMessages: 3 });
      expect(await store.deleteTrial('trial-closed')).toBe(0);
    } finally {
      await store.close();
    }
  });
});
