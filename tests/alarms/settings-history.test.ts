import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { createLiveBus } from '../../alarms/live-bus.js';
import { eraseParticipantAlarms, loadFluidTargets, migrateAlarmTables, upsertSettings } from '../../alarms/store.js';
import { AlarmSettingsInput, type AlarmSettingsInput as Input } from '../../kernel/alarms.js';
import { createLogger } from '../../kernel/log.js';
import type { SqlClient } from '../../kernel/sql.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { startApi, T0, type ApiFixture } from '../api/fixture.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { profiles } from './fixtures.js';

/**
 * The history of each participant's fluid-balance target (alarms/store.ts): every change
 * of the settings the fluid_balance and weight_gain rules judge by is kept with its time
 * and who made it, so a trial report can judge a day by the target that held then.
 */
const HOUR = 3_600_000;
const nurse = { id: 'tok-nurse', label: 'nurse' };
const record = (participantId: string, at: number, input: Partial<Input>) => ({
  ...AlarmSettingsInput.parse({ siteId: 'site-a', ...input }),
  participantId,
  updatedAt: at,
  updatedBy: nurse,
});

describe('PUT /v1/alarm-settings/{participantId} keeps the target history', () => {
  let f: ApiFixture;
  let app: FastifyInstance;
  let engine: AlarmEngine;
  let sql: SqlClient;
  let dir: string;
  let clock = T0;
  let otherSite: string;

  beforeAll(async () => {
    f = await startApi();
    dir = mkdtempSync(join(tmpdir(), 'arena-target-history-'));
    sql = await openDuckDbSqlClient(join(dir, 'alarms.duckdb'));
    const bus = createLiveBus();
    engine = await openAlarmEngine({
      sql,
      store: f.store,
      profiles,
      logger: createLogger('silent'),
      config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 3_600_000 },
      publish: bus.publish,
      now: () => clock,
    });
    app = await buildApp({ registry: f.registry, store: f.store, profiles, logger: createLogger('silent'), alarms: engine, live: bus });
    await f.registry.enrolParticipant({ id: 'p-008', trialId: 'trial-1' });
    await f.registry.createSite({ id: 'site-b', name: 'Flat', kind: 'demo-flat' });
    otherSite = (await f.registry.issueToken({ role: 'clinician', siteIds: ['site-b'], label: 'other ward', expiresAt: null })).token;
  });
  afterAll(async () => {
    await app?.close();
    await engine?.close();
    await sql?.close();
    await f?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const put = async (participantId: string, at: number, body: Partial<Input>, token = f.tokens.clinician) => {
    clock = at;
    return app.inject({
      method: 'PUT',
      url: `/v1/alarm-settings/${participantId}`,
      headers: { authorization: `Bearer ${token}` },
      payload: { siteId: 'site-a', ...body },
    });
  };

  it('stores each change of the target with its time and who made it, and nothing for a change of anything else', async () => {
    expect((await put('p-007', T0, { fluid: { windowH: 24, maxNetGainMl: 1500 } })).statusCode).toBe(200);
    expect((await put('p-007', T0 + HOUR, { fluid: { windowH: 24, maxNetGainMl: 1500 }, paused: true })).statusCode).toBe(200);
    expect((await put('p-007', T0 + 2 * HOUR, { fluid: { windowH: 24, maxNetGainMl: 1500, maxNetLossMl: 800 } })).statusCode).toBe(200);
    const weight = { targetKg: 71.5, maxGainKg: 2 };
    expect((await put('p-007', T0 + 3 * HOUR, { fluid: { windowH: 24, maxNetGainMl: 1500, maxNetLossMl: 800 }, weight })).statusCode).toBe(200);
    expect((await put('p-008', T0 + 4 * HOUR, { fluid: { windowH: 12, maxNetLossMl: 600 } }, f.tokens.admin)).statusCode).toBe(200);

    const history = await engine.fluidTargetHistory(['p-007', 'p-008']);
    expect(history.map((h) => [h.participantId, h.validFrom - T0, h.fluid, h.weight, h.setBy.label])).toEqual([
      ['p-007', 0, { windowH: 24, maxNetGainMl: 1500, maxNetLossMl: null }, { targetKg: null, maxGainKg: null }, 'nurse'],
      ['p-007', 2 * HOUR, { windowH: 24, maxNetGainMl: 1500, maxNetLossMl: 800 }, { targetKg: null, maxGainKg: null }, 'nurse'],
      ['p-007', 3 * HOUR, { windowH: 24, maxNetGainMl: 1500, maxNetLossMl: 800 }, weight, 'nurse'],
      ['p-008', 4 * HOUR, { windowH: 12, maxNetGainMl: null, maxNetLossMl: 600 }, { targetKg: null, maxGainKg: null }, 'admin'],
    ]);
    expect(await engine.fluidTargetHistory(['p-008'])).toHaveLength(1);
    expect(await engine.fluidTargetHistory([])).toEqual([]);
  });

  it('is read through GET /v1/alarm-settings/{participantId}/targets by the carers of the participant only', async () => {
    const targets = (token: string, participantId = 'p-007') =>
      app.inject({ method: 'GET', url: `/v1/alarm-settings/${participantId}/targets`, headers: { authorization: `Bearer ${token}` } });
    const res = await targets(f.tokens.clinician);
    expect(res.statusCode).toBe(200);
    const items = (res.json() as { items: { validFrom: string; fluid: { maxNetLossMl: number | null }; setBy: { label: string } }[] }).items;
    expect(items.map((i) => [i.validFrom, i.fluid.maxNetLossMl, i.setBy.label])).toEqual([
      [new Date(T0).toISOString(), null, 'nurse'],
      [new Date(T0 + 2 * HOUR).toISOString(), 800, 'nurse'],
      [new Date(T0 + 3 * HOUR).toISOString(), 800, 'nurse'],
    ]);
    expect((await targets(f.tokens.admin)).statusCode).toBe(200);
    expect((await targets(otherSite)).statusCode).toBe(404);
    expect((await targets(f.tokens.clinician, 'nobody')).statusCode).toBe(404);
    expect((await targets(f.tokens.vendorA)).statusCode).toBe(403);
    expect((await targets(f.tokens.researcher)).statusCode).toBe(403);
    expect((await app.inject({ method: 'GET', url: '/v1/alarm-settings/p-007/targets' })).statusCode).toBe(401);
  });

  it('keeps no change that the route refused (a clinician of another site)', async () => {
    expect((await put('p-007', T0 + 5 * HOUR, { fluid: { windowH: 24, maxNetGainMl: 9000 } }, otherSite)).statusCode).toBe(404);
    expect((await engine.fluidTargetHistory(['p-007'])).map((h) => h.fluid.maxNetGainMl)).toEqual([1500, 1500, 1500]);
  });

  it("is erased with the participant's alarms and settings, and only theirs", async () => {
    await engine.eraseParticipant('p-007');
    expect(await engine.fluidTargetHistory(['p-007'])).toEqual([]);
    const res = await app.inject({ method: 'GET', url: '/v1/alarm-settings/p-007/targets', headers: { authorization: `Bearer ${f.tokens.admin}` } });
    expect(res.json()).toEqual({ items: [] });
    expect((await engine.fluidTargetHistory(['p-008'])).map((h) => h.participantId)).toEqual(['p-008']);
    const [row] = await sql.query<{ n: number }>("SELECT count(*) AS n FROM alarm_fluid_targets WHERE participant_id = 'p-007'");
    expect(Number(row?.n)).toBe(0);
  });
});

describe.each([
  ['DuckDB', async (dir: string) => openDuckDbSqlClient(join(dir, 'alarms.duckdb'))],
  ['PostgreSQL', async () => openPostgresSqlClient(await pg.newDatabase('targets'))],
])('the target history on %s', (_engine, open) => {
  let dir: string;
  let sql: SqlClient;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arena-target-store-'));
    sql = await open(dir);
  });
  afterAll(async () => {
    await sql?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('begins, for settings stored before it was kept, with the target as they hold it since they were set', async () => {
    // The alarm tables as their first migration left them, with one participant's settings.
    await sql.query('CREATE TABLE alarm_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    await sql.query("INSERT INTO alarm_migrations VALUES (1, 'alarms, participant settings, device state, engine marks', 0)");
    await sql.query('CREATE TABLE alarm_settings (participant_id TEXT PRIMARY KEY, site_id TEXT NOT NULL, updated_at BIGINT NOT NULL, body TEXT NOT NULL)');
    await sql.query('CREATE TABLE alarm_alarms (id TEXT PRIMARY KEY, participant_id TEXT, body TEXT NOT NULL)');
    const old = record('p-old', T0 - 10 * HOUR, { fluid: { maxNetGainMl: 1200 } });
    await sql.query('INSERT INTO alarm_settings VALUES ($1, $2, $3, $4)', [old.participantId, old.siteId, old.updatedAt, JSON.stringify(old)]);

    await migrateAlarmTables(sql, T0);
    await migrateAlarmTables(sql, T0 + HOUR); // a second start adds nothing
    expect(await loadFluidTargets(sql, ['p-old'])).toEqual([
      { participantId: 'p-old', validFrom: T0 - 10 * HOUR, fluid: old.fluid, weight: old.weight, setBy: nurse },
    ]);
  });

  it('keeps the later of two changes in the same millisecond, and erases one participant only', async () => {
    await upsertSettings(sql, record('p-1', T0, { fluid: { maxNetGainMl: 1000 } }));
    await upsertSettings(sql, record('p-1', T0, { fluid: { maxNetGainMl: 1100 } }));
    await upsertSettings(sql, record('p-1', T0 + HOUR, { fluid: { maxNetGainMl: 1100 }, roomId: 'room-1' }));
    await upsertSettings(sql, record('p-2', T0 + HOUR, { fluid: { maxNetLossMl: 700 } }));
    expect((await loadFluidTargets(sql, ['p-1', 'p-2'])).map((h) => [h.participantId, h.validFrom, h.fluid.maxNetGainMl, h.fluid.maxNetLossMl])).toEqual([
      ['p-1', T0, 1100, null],
      ['p-2', T0 + HOUR, null, 700],
    ]);
    await eraseParticipantAlarms(sql, 'p-1');
    expect((await loadFluidTargets(sql, ['p-1', 'p-2'])).map((h) => h.participantId)).toEqual(['p-2']);
  });
});

let pg: RunningPostgres;
beforeAll(async () => {
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await pg?.stop();
});
