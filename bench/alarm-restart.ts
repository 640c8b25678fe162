import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { openAlarmEngine } from '../alarms/engine.js';
import type { ProfileSet } from '../device-profiles/load.js';
import type { IngestBatch, Reading } from '../kernel/telemetry.js';
import { openDuckDbSqlClient } from '../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../stores/duckdb/telemetry-store.js';

const WINDOW_MS = 72 * 3_600_000;
const BATCH = 5000;

/**
 * Milliseconds from opening the alarm engine to its being ready, over a DuckDB store that
 * holds `points` intake and output readings of one participant spread over the last 72 h
 * (the fluid-balance window the engine replays at start). Seeded by bulk writes, not MQTT.
 */
export async function alarmRestartMs(points: number, profiles: ProfileSet): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'arena-bench-restart-'));
  const store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  const sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  try {
    const now = Date.now();
    const span = WINDOW_MS - 60_000;
    for (let from = 0; from < points; from += BATCH) {
      const batch: { messages: IngestBatch['messages'][number][]; points: Reading[] } = { messages: [], points: [] };
      for (let i = from; i < Math.min(points, from + BATCH); i++) {
        const t = now - span + Math.floor((i * span) / points);
        const messageId = BigInt(i + 1);
        batch.messages.push({ id: messageId, deviceId: 'AQ-B', receivedAt: t });
        batch.points.push({
          kind: 'reading',
          messageId,
          seq: 0,
          deviceId: 'AQ-B',
          profileId: 'aquascale',
          family: 'fluid-balance',
          siteId: 'bench',
          roomId: 'r-1',
          trialId: 't-1',
          participantId: 'p-1',
          name: i % 3 === 0 ? 'fluid_output' : 'fluid_intake',
          value: 150,
          unit: 'mL',
          deviceTime: t,
          receivedAt: t,
          clockSkewed: false,
        });
      }
      await store.write({ ...batch, rejections: [] });
    }
    const t0 = performance.now();
    const engine = await openAlarmEngine({
      sql,
      store,
      profiles,
      logger: pino({ level: 'silent' }),
      config: { timeZone: 'Europe/Oslo', tickMs: 60_000, replayMs: WINDOW_MS },
      publish: () => undefined,
    });
    const ms = performance.now() - t0;
    await engine.close();
    return ms;
  } finally {
    await store.close();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
