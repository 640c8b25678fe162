import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import type { LiveMessage } from '../../kernel/alarms.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { MIN, aquaScale, at, heartbeat, profiles, roomSense } from './fixtures.js';

/** The engine on real DuckDB files, restarted the way the hub restarts: a new engine on the same database. */
const T0 = at('2026-11-23T10:00');
const nurse = { id: 'tok-1', label: 'Night nurse, ward 3' };
const OPEN = { states: ['raised', 'acknowledged'] as const };

let dir: string;
let sql: SqlClient;
let store: TelemetryStore;
let clock: number;
let published: LiveMessage[];
const engines: AlarmEngine[] = [];

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arena-alarms-'));
  sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  clock = T0;
  published = [];
});
afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  await store.close();
  await sql.close();
  rmSync(dir, { recursive: true, force: true });
});

async function start(): Promise<AlarmEngine> {
  const engine = await openAlarmEngine({
    sql,
    store,
    profiles,
    logger: createLogger('silent'),
    // The timer never fires in a test: ticks are called by hand.
    config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 72 * 3_600_000 },
    publish: (m) => published.push(m),
    now: () => clock,
  });
  engines.push(engine);
  return engine;
}

/** What ingest does: commit to the store, then tell its listeners. */
async function commit(engine: AlarmEngine | null, ...batches: Point[][]): Promise<void> {
  const points = batches.flat();
  const messages = [...new Map(points.map((p) => [p.messageId, { id: p.messageId, deviceId: p.deviceId, receivedAt: p.receivedAt }])).values()];
  await store.write({ messages, points, rejections: [] });
  engine?.onCommitted([{ points }]);
}

/** A restart: the old engine's timers stop; what it did not flush is lost, as in a crash. */
async function restart(old: AlarmEngine, at: number, graceful = true): Promise<AlarmEngine> {
  if (graceful) await old.close();
  engines.splice(engines.indexOf(old), 1);
  clock = at;
  return start();
}

describe('the fall path', () => {
  it('broadcasts the alarm in the same turn as the commit, then stores it', async () => {
    const engine = await start();
    const fall = roomSense('FALL_DETECTED', T0);
    await store.write({ messages: [{ id: fall[0]!.messageId, deviceId: 'RS3D-1', receivedAt: T0 }], points: fall, rejections: [] });
    engine.onCommitted([{ points: fall }]);
    // No await between the commit listener and this line.
    expect(published.filter((m) => m.kind === 'alarm').map((m) => m.kind === 'alarm' && m.alarm.rule)).toEqual(['fall']);
    await engine.flush();
    expect(await sql.query('SELECT alarm_key, state FROM alarm_alarms')).toEqual([{ alarm_key: 'fall|r:room-1', state: 'raised' }]);
  });
});

describe('alarms survive restarts, without duplicates', () => {
  it('an acknowledged fall is still acknowledged after a restart, and a redelivery of its message opens nothing', async () => {
    let engine = await start();
    const fall = roomSense('FALL_DETECTED', T0);
    await commit(engine, fall);
    const [alarm] = await engine.listAlarms(OPEN);
    await engine.acknowledge(alarm!.id, nurse, 'coming');

    engine = await restart(engine, T0 + 5 * MIN);
    expect(await engine.listAlarms(OPEN)).toEqual([
      expect.objectContaining({ id: alarm!.id, state: 'acknowledged', ackComment: 'coming', acknowledgedBy: nurse }),
    ]);
    engine.onCommitted([{ points: fall }]); // the device resent it after a lost PUBACK
    expect((await engine.listAlarms(OPEN))[0]!.triggerCount).toBe(1);

    await engine.resolve(alarm!.id, nurse, null);
    engine = await restart(engine, T0 + 10 * MIN);
    engine.onCommitted([{ points: fall }]);
    expect(await engine.listAlarms(OPEN)).toEqual([]);
    expect(await engine.listAlarms({})).toHaveLength(1);
  });

  it('a fall committed just before a crash, before its alarm was stored, is raised after the restart', async () => {
    let engine = await start();
    await commit(engine, heartbeat(T0));
    await engine.flush();
    // The process dies between ingest's commit and the alarm engine hearing of it.
    await commit(null, roomSense('FALL_DETECTED', T0 + 1000));
    engine = await restart(engine, T0 + 2 * MIN, false);
    expect((await engine.listAlarms(OPEN)).map((a) => a.rule)).toEqual(['fall']);
    engine = await restart(engine, T0 + 3 * MIN);
    expect((await engine.listAlarms(OPEN)).map((a) => a.rule)).toEqual(['fall']);
  });

  it('a device that fell silent while the hub was down goes offline at the first tick, exactly once', async () => {
    let engine = await start();
    await commit(engine, heartbeat(T0));
    engine = await restart(engine, T0 + 10 * MIN);
    engine.tick();
    const offline = await engine.listAlarms(OPEN);
    expect(offline).toEqual([expect.objectContaining({ rule: 'device_offline', alertCode: '1.20', raisedAt: T0 + 10 * MIN })]);
    await engine.flush();

    engine = await restart(engine, T0 + 11 * MIN, false);
    engine.tick();
    expect(await engine.listAlarms(OPEN)).toEqual([expect.objectContaining({ id: offline[0]!.id })]);
    expect(engine.deviceHealth(['RS3D-1'])[0]).toMatchObject({ offlineSince: T0 + 10 * MIN });

    clock = T0 + 12 * MIN;
    await commit(engine, heartbeat(clock));
    expect(await engine.listAlarms(OPEN)).toEqual([]);
    expect(await engine.getAlarm(offline[0]!.id)).toMatchObject({ state: 'resolved', closedBy: { id: 'hub' } });
  });

  it('rolling fluid windows continue from replayed telemetry', async () => {
    let engine = await start();
    await engine.putSettings('d', { siteId: 'site-a', fluid: { windowH: 24, maxNetGainMl: 1500 } }, nurse);
    const who = { participantId: 'd', trialId: 'trial-1' };
    await commit(engine, aquaScale('intake', 1000, 'ml', T0, who));
    engine = await restart(engine, T0 + 2 * 60 * MIN);
    expect(await engine.getSettings('d')).toMatchObject({ fluid: { maxNetGainMl: 1500 }, updatedBy: nurse });
    await commit(engine, aquaScale('intake', 600, 'ml', clock, who));
    expect(await engine.listAlarms(OPEN)).toEqual([expect.objectContaining({ rule: 'fluid_balance', detail: expect.objectContaining({ netMl: 1600 }) })]);
  });
});

describe('alarms in datasets, settings, erasure', () => {
  const who = { participantId: 'p-1', trialId: 'trial-1' };

  it('an alarm about a trial participant is stored as events for the dataset, without comments or names', async () => {
    const engine = await start();
    await commit(engine, roomSense('FALL_DETECTED', T0, who));
    const [alarm] = await engine.listAlarms(OPEN);
    clock = T0 + 30_000;
    await engine.acknowledge(alarm!.id, nurse, 'the name of a relative');
    const events: Point[] = [];
    for await (const p of store.points({ trialId: 'trial-1', names: ['alarm_raised', 'alarm_acknowledged'] })) events.push(p);
    expect(events.map((e) => [e.name, e.participantId, e.kind === 'event' && e.alertCode])).toEqual([
      ['alarm_raised', 'p-1', '4.1'],
      ['alarm_acknowledged', 'p-1', '4.1'],
    ]);
    expect(events[1]!.kind === 'event' && events[1]!.attributes).toEqual({
      alarmId: alarm!.id,
      rule: 'fall',
      event: 'fall',
      sourceDeviceId: 'RS3D-1',
      triggerCount: 1,
      secondsSinceRaised: 30,
    });
  });

  it('refuses settings that do not parse', async () => {
    const engine = await start();
    await expect(engine.putSettings('p', { siteId: 'site-a', bedExit: { windows: [{ from: '25:00', to: '07:00' }] } }, nurse)).rejects.toMatchObject({
      code: 'VALIDATION_FAILED',
    });
  });

  it("erasure removes the participant's alarms and settings and leaves others", async () => {
    const engine = await start();
    await engine.putSettings('p-1', { siteId: 'site-a' }, nurse);
    await commit(engine, roomSense('FALL_DETECTED', T0, who), inactivity());
    expect(await engine.eraseParticipant('p-1')).toBe(1);
    expect((await engine.listAlarms({})).map((a) => a.participantId)).toEqual([null]);
    expect(await engine.getSettings('p-1')).toBeUndefined();
  });
});

function inactivity(): Point[] {
  return roomSense('INACTIVITY', T0 + 1000, {}, { duration_s: 3600 });
}
