import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openRecorder } from '../../conformance/recorder.js';
import { createLogger } from '../../kernel/log.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openConformanceRuns } from '../../stores/sql/conformance-runs.js';
import { startTestHub } from '../helpers/hub.js';

// A run is stored state: a stop of the hub ends it as interrupted, with the report of what it saw; a crash is found at the next start.

const dirs: string[] = [];
const folder = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'arena-conformance-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('a conformance run across a restart', () => {
  it('a run in progress when the hub stops ends as interrupted, says so, and is still there after the restart', { timeout: 60_000 }, async () => {
    const dataDir = folder();
    const first = await startTestHub({ ARENA_DATA_DIR: dataDir });
    await first.api('/v1/vendors', { body: { id: 'aq', name: 'AquaScale' } });
    await first.api('/v1/devices', { body: { id: 'AQ-1', vendorId: 'aq', profileId: 'aquascale' } });
    const started = await first.api('/v1/conformance-runs', { body: { deviceId: 'AQ-1', durationS: 3600 } });
    expect(started.status).toBe(201);
    await first.stop();

    const second = await startTestHub({ ARENA_DATA_DIR: dataDir });
    try {
      const run = (await second.api(`/v1/conformance-runs/${started.body.id}`)).body;
      expect(run).toMatchObject({ status: 'interrupted', deviceId: 'AQ-1' });
      expect(run.note).toMatch(/stopped before the run ended/);
      expect(run.report.summary.messages).toBe(0);
      expect(Date.parse(run.endedAt)).toBeLessThan(Date.parse(run.endsAt));
      const html = await second.api(`/v1/conformance-runs/${started.body.id}/report.html`);
      expect(html.body).toContain('INTERRUPTED');
      expect(html.body).toContain('stopped before the run ended');
    } finally {
      await second.stop();
    }
  });

  it('a run left running by a crash is marked interrupted at the next start, without a report', async () => {
    const sql = await openDuckDbSqlClient(join(folder(), 'registry.duckdb'));
    try {
      const runs = await openConformanceRuns(sql);
      await runs.create({
        id: 'run-crashed',
        deviceId: 'AQ-1',
        vendorId: 'aq',
        profileId: 'aquascale',
        profileVersion: '1.0.0',
        hubVersion: '0.1.0',
        status: 'running',
        startedAt: 1_000,
        endsAt: 3_601_000,
        endedAt: null,
        startedBy: 'tok-1',
        note: null,
        report: null,
      });
      const recorder = await openRecorder({
        runs,
        device: async () => undefined,
        decoder: () => undefined,
        hubVersion: '0.1.0',
        skewMs: 120_000,
        logger: createLogger('silent'),
        now: () => 5_000,
      });
      expect(await recorder.get('run-crashed')).toMatchObject({
        status: 'interrupted',
        endedAt: 5_000,
        report: null,
        note: expect.stringMatching(/not shut down cleanly/),
      });
      expect(await runs.running()).toEqual([]);
      await recorder.close();
    } finally {
      await sql.close();
    }
  });
});
