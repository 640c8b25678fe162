import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { MIN, aquaScale, at, profiles } from './fixtures.js';

/**
 * The engine's checkpoint (alarms/checkpoint.ts) on real DuckDB files: a restart from it
 * reaches the state a replay of the whole window reaches, judges each point once, and
 * really starts from it (a store that no longer holds what the checkpoint remembers still
 * gives the same balance).
 */
const T0 = at('2026-11-23T10:00');
const nurse = { id: 'tok-1', label: 'Night nurse, ward 3' };
const OPEN = { states: ['raised', 'acknowledged'] as const };
const who = { participantId: 'd', trialId: 'trial-1' };
const SETTINGS = { siteId: 'site-a', fluid: { windowH: 24, maxNetGainMl: 2000 } };

let dir: string;
let clock: number;
const closing: { close(): Promise<void> }[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'arena-checkpoint-'));
  clock = T0;
});
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
  rmSync(dir, { recursive: true, force: true });
});

async function openSql(name: string): Promise<SqlClient> {
  const sql = await openDuckDbSqlClient(join(dir, `${name}.duckdb`));
  closing.push(sql);
  return sql;
}

async function openStore(name: string): Promise<TelemetryStore> {
  const store = await openDuckDbTelemetryStore({ path: join(dir, `${name}.duckdb`) });
  closing.push(store);
  return store;
}

/** An engine that the test ends by hand: `crash` drops it without the checkpoint close() stores. */
async function start(sql: SqlClient, store: TelemetryStore): Promise<AlarmEngine> {
  return openAlarmEngine({
    sql,
    store,
    profiles,
    logger: createLogger('silent'),
    config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 72 * 3_600_000 },
    publish: () => undefined,
    now: () => clock,
  });
}

const started = async (sql: SqlClient, store: TelemetryStore): Promise<AlarmEngine> => {
  const e = await start(sql, store);
  closing.push(e);
  return e;
};

/** What ingest does: commit to the stores, then tell the engines. */
async function commit(stores: TelemetryStore[], engines: AlarmEngine[], points: Point[]): Promise<readonly Point[][]> {
  const messages = [...new Map(points.map((p) => [p.messageId, { id: p.messageId, deviceId: p.deviceId, receivedAt: p.receivedAt }])).values()];
  for (const s of stores) await s.write({ messages, points, rejections: [] });
  return engines.map((e) => [...e.onCommitted([{ points }])]);
}

const intake = (ml: number, t: number): Point[] => aquaScale('intake', ml, 'ml', t, who);
const output = (ml: number, t: number): Point[] => aquaScale('output', ml, 'ml', t, who);
const fluidAlarms = async (e: AlarmEngine) => (await e.listAlarms(OPEN)).filter((a) => a.rule === 'fluid_balance').map((a) => a.detail);

describe('restart from a checkpoint', () => {
  it('reaches the state a replay of the whole window reaches: the same alarm afterwards, each point judged once', async () => {
    const store = await openStore('telemetry');
    const sql = await openSql('registry');
    const first = await start(sql, store);
    await first.putSettings('d', SETTINGS, nurse);
    const before = [intake(1000, T0), output(300, T0 + 10 * MIN), intake(700, T0 + 20 * MIN)];
    for (const p of before) await commit([store], [first], p);
    await first.checkpoint();
    // Received after the checkpoint, and one inside the minute before it that it did hold.
    clock = T0 + 30 * MIN;
    await commit([store], [first], intake(500, clock));
    await first.flush(); // then the process dies: no checkpoint at close

    clock = T0 + 40 * MIN;
    const fromCheckpoint = await started(sql, store);
    // The full replay: the same telemetry, a registry that never held a checkpoint.
    const replaySql = await openSql('registry-replay');
    const replayed = await started(replaySql, store);
    await replayed.putSettings('d', SETTINGS, nurse);

    // A message judged before the checkpoint comes again (a resend after a lost PUBACK): judged by neither.
    expect(fromCheckpoint.onCommitted([{ points: before[0]! }])).toEqual([]);
    expect(replayed.onCommitted([{ points: before[0]! }])).toEqual([]);

    const [a, b] = await commit([store], [fromCheckpoint, replayed], intake(400, clock));
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    // 1000 - 300 + 700 + 500 + 400: every point once.
    expect(await fluidAlarms(fromCheckpoint)).toEqual([expect.objectContaining({ netMl: 2300, direction: 'gain' })]);
    expect(await fluidAlarms(fromCheckpoint)).toEqual(await fluidAlarms(replayed));
  });

  it('starts from the checkpoint and adds what came after it: a store without the earlier points gives the same balance', async () => {
    const full = await openStore('telemetry');
    // Holds only what was received after the checkpoint: a replay of it alone knows nothing of the first 1000 mL.
    const tail = await openStore('telemetry-tail');
    const sql = await openSql('registry');
    const first = await start(sql, full);
    await first.putSettings('d', SETTINGS, nurse);
    await commit([full], [first], intake(1000, T0));
    await first.checkpoint();
    clock = T0 + 10 * MIN;
    await commit([full, tail], [first], intake(700, clock));
    await first.flush(); // then the process dies

    clock = T0 + 20 * MIN;
    const restarted = await started(sql, tail);
    await commit([tail], [restarted], intake(500, clock));
    // Without the checkpoint 1200, without the points after it 1500.
    expect(await fluidAlarms(restarted)).toEqual([expect.objectContaining({ netMl: 2200 })]);
  });

  it("erasure replaces the checkpoint: the participant's window does not come back after a restart", async () => {
    const store = await openStore('telemetry');
    const sql = await openSql('registry');
    const first = await start(sql, store);
    await first.putSettings('d', SETTINGS, nurse);
    await commit([store], [first], intake(1800, T0));
    await first.checkpoint();
    await first.eraseParticipant('d');
    await store.eraseParticipant('d');
    await first.flush(); // then the process dies

    clock = T0 + 10 * MIN;
    const restarted = await started(sql, store);
    await restarted.putSettings('d', SETTINGS, nurse);
    await commit([store], [restarted], intake(500, clock));
    await commit([store], [restarted], intake(1600, clock + MIN));
    // 500 + 1600: nothing of the erased 1800 mL.
    expect(await fluidAlarms(restarted)).toEqual([expect.objectContaining({ netMl: 2100 })]);
  });
});
