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

export interface RestartFigures {
  /** Opening the engine again until it is ready. */
  readonly ms: number;
  /** The checkpoint it started from (alarms/checkpoint.ts). */
  readonly checkpointBytes: number;
  /** Storing that checkpoint while the engine runs (every 5 min). */
  readonly checkpointMs: number;
}

/**
 * A restart of the alarm engine with `points` intake and output readings of one
 * participant in its 72 h fluid-balance window: the points are committed to a DuckDB store
 * in bulk (not over MQTT) and judged by an engine as ingest would hand them over, that
 * engine is closed (storing its checkpoint), and a new one is opened on the same files,
 * timed until it is ready.
 */
export async function alarmRestart(points: number, profiles: ProfileSet): Promise<RestartFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'arena-bench-restart-'));
  const store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  const sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  const open = () =>
    openAlarmEngine({
      sql,
      store,
      profiles,
      logger: pino({ level: 'silent' }),
      config: { timeZone: 'Europe/Oslo', tickMs: 60_000, replayMs: WINDOW_MS },
      publish: () => undefined,
    });
  try {
    const first = await open();
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
      first.onCommitted([batch]);
    }
    const c0 = performance.now();
    await first.checkpoint();
    const checkpointMs = performance.now() - c0;
    await first.close();
    const [row] = await sql.query<{ n: number }>('SELECT length(body) AS n FROM alarm_checkpoints');
    const t0 = performance.now();
    const engine = await open();
    const ms = performance.now() - t0;
    await engine.close();
    return { ms, checkpointBytes: Number(row?.n ?? 0), checkpointMs };
  } finally {
    await store.close();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
