import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DuckDBInstance } from '@duckdb/node-api';
import { columnsFor } from '../../datasets/columns.js';
import type { DatasetExportRequest } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { T0, batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';

/**
 * Retention of a closed trial in the DuckDB store: deleted, or archived as Parquet that
 * the dataset export still reads and an erasure still reaches; the other trials' data
 * stays, and exactly-once holds.
 */
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

/** The trial's research dataset as CSV lines (header first), for participants p-1 and p-2 over all time. */
async function exportLines(store: { exportTo?: (r: DatasetExportRequest, f: string) => Promise<unknown> }, trialId: string, file: string): Promise<string[]> {
  const windows = ['p-1', 'p-2'].map((participantId) => ({ participantId, from: 0, to: 2 ** 50 }));
  await store.exportTo!(
    {
      query: { trialId, release: { windows, includeDeviceData: false } },
      columns: columnsFor('research').map((c) => ({ name: c.name, type: c.type })),
      format: 'csv',
      pseudonym: (p) => `pseudo-${p}`,
      alarmEvents: { deviceId: 'hub-alarms', ref: (a) => a },
      baseline: null,
      interventionFrom: null,
    },
    file,
  );
  const lines = readFileSync(file, 'utf8').trim().split('\r\n');
  rmSync(file);
  return lines;
}

describe('archiving a closed trial', () => {
  it('moves its points to Parquet that the export still reads and an erasure still reaches', async () => {
    const dir = join(root, 'archive');
    const path = join(dir, 'telemetry.duckdb');
    mkdirSync(dir, { recursive: true });
    const store = await openDuckDbTelemetryStore({ path });
    const closed = [
      reading(11n, T0, { trialId: 'trial-closed', participantId: 'p-1' }),
      reading(12n, T0 + 1, { trialId: 'trial-closed', participantId: 'p-2' }),
      reading(13n, T0 + 2, { trialId: 'trial-closed', participantId: 'p-1', name: 'output' }),
    ];
    const running = [reading(14n, T0 + 3, { trialId: 'trial-running', participantId: 'p-2' })];
    try {
      await store.write(batchOf([...closed, ...running]));
      const before = await exportLines(store, 'trial-closed', join(dir, 'before.csv'));
      expect(before).toHaveLength(1 + 3);

      expect(await store.archiveTrial('trial-closed')).toBe(3);
      expect(await trialsOf(store.points({}))).toEqual(['trial-running']);
      expect(await exportLines(store, 'trial-closed', join(dir, 'archived.csv'))).toEqual(before);
      expect(await exportLines(store, 'trial-running', join(dir, 'running.csv'))).toHaveLength(1 + 1);
      expect(await store.write(batchOf(closed))).toEqual({ storedMessages: 0, duplicateMessages: 3 });

      // Erasure: p-1's two archived points and nothing of anyone else.
      expect(await store.eraseParticipant('p-1')).toBe(2);
      const after = await exportLines(store, 'trial-closed', join(dir, 'erased.csv'));
      expect(after).toEqual([before[0], before.find((l) => l.includes('pseudo-p-2'))]);
    } finally {
      await store.close();
    }
    const archives = readdirSync(`${path}.archive`);
    expect(archives).toHaveLength(1);
    expect(statSync(join(`${path}.archive`, archives[0]!)).mode & 0o077).toBe(0);
    const instance = await DuckDBInstance.create(':memory:');
    const c = await instance.connect();
    try {
      const rows = await c.runAndReadAll(`SELECT participant_id FROM read_parquet('${join(`${path}.archive`, archives[0]!)}')`);
      expect(rows.getRows()).toEqual([['p-2']]);
    } finally {
      c.closeSync();
      instance.closeSync();
    }

    const reopened = await openDuckDbTelemetryStore({ path });
    try {
      expect(await exportLines(reopened, 'trial-closed', join(dir, 'reopened.csv'))).toHaveLength(1 + 1);
      // No point of the trial is left in the file; its archive goes with it.
      expect(await reopened.deleteTrial('trial-closed')).toBe(0);
      expect(existsSync(join(`${path}.archive`, archives[0]!))).toBe(false);
      expect(await exportLines(reopened, 'trial-closed', join(dir, 'deleted.csv'))).toHaveLength(1);
    } finally {
      await reopened.close();
    }
  });
});
