import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { Trial } from '../../kernel/trials.js';
import { closedAtOf, dueActions, nextAction, retentionViews, type RetentionPolicy } from '../../kernel/trial-retention.js';
import { startTrialRetention } from '../../hub/retention-schedule.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openTrialRetention } from '../../stores/sql/trial-retention.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { asDouble, searchFolder } from '../helpers/file-search.js';

/**
 * Retention of closed trials as the hub applies it (hub/retention-schedule.ts): the
 * policy, its state in the registry, and the all-in-one hub archiving a trial (its
 * dataset reads the same) and deleting trials with an erasure's guarantees, searched
 * for byte by byte in the data folder (as tests/privacy/erasure-forensic.test.ts).
 */
const DAY = 86_400_000;
const NEVER: RetentionPolicy = { archiveAfterDays: null, deleteAfterDays: null };

describe('the retention policy', () => {
  const closed = { status: 'completed' as const, period: { from: 0, to: 10 * DAY } };

  it('takes what the trial sets over the defaults, null meaning never', () => {
    const trials = [{ id: 't', ...closed }];
    const defaults = { archiveAfterDays: 30, deleteAfterDays: 365 };
    const [own] = retentionViews(
      trials,
      [{ trialId: 't', setting: { deleteAfterDays: null }, closedAt: null, archivedAt: null, archivedPoints: null, deletedAt: null, deletedPoints: null }],
      defaults,
      20 * DAY,
    );
    expect(own!.policy).toEqual({ archiveAfterDays: 30, deleteAfterDays: null });
    expect(own!.next).toEqual({ action: 'archive', dueAt: 40 * DAY });
    const [inherited] = retentionViews(trials, [], defaults, 20 * DAY);
    expect(inherited!.policy).toEqual(defaults);
  });

  it('closes a trial at the end of its period, or when seen completed early, and keeps a recorded close', () => {
    expect(closedAtOf({ status: 'running', period: { from: 0, to: 10 * DAY } }, null, 5 * DAY)).toBeNull();
    expect(closedAtOf({ status: 'running', period: { from: 0, to: 10 * DAY } }, null, 12 * DAY)).toBe(10 * DAY);
    expect(closedAtOf({ status: 'completed', period: { from: 0, to: 10 * DAY } }, null, 5 * DAY)).toBe(5 * DAY);
    expect(closedAtOf({ status: 'completed', period: { from: 0, to: 10 * DAY } }, 3 * DAY, 5 * DAY)).toBe(3 * DAY);
  });

  it('archives before deleting only when the archive falls due first, and does nothing twice', () => {
    const none = { archivedAt: null, deletedAt: null };
    expect(nextAction({ archiveAfterDays: 0, deleteAfterDays: 30 }, none, 0)).toEqual({ action: 'archive', dueAt: 0 });
    expect(nextAction({ archiveAfterDays: 30, deleteAfterDays: 30 }, none, 0)).toEqual({ action: 'delete', dueAt: 30 * DAY });
    expect(nextAction({ archiveAfterDays: 0, deleteAfterDays: 30 }, { archivedAt: 1, deletedAt: null }, 0)).toEqual({ action: 'delete', dueAt: 30 * DAY });
    expect(nextAction({ archiveAfterDays: 0, deleteAfterDays: null }, { archivedAt: 1, deletedAt: null }, 0)).toBeNull();
    expect(nextAction({ archiveAfterDays: 0, deleteAfterDays: 0 }, { archivedAt: null, deletedAt: 1 }, 0)).toBeNull();
    expect(nextAction(NEVER, none, 0)).toBeNull();
    expect(nextAction({ archiveAfterDays: 0, deleteAfterDays: 0 }, none, null)).toBeNull();
  });
});

describe('the retention rows, on both registry engines', () => {
  let pg: RunningPostgres;
  const dir = mkdtempSync(join(tmpdir(), 'arena-trial-retention-rows-'));
  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const engines: [string, () => Promise<SqlClient>][] = [
    ['DuckDB', () => openDuckDbSqlClient(join(dir, 'registry.duckdb'))],
    ['PostgreSQL', async () => openPostgresSqlClient(await pg.newDatabase('retention'))],
  ];

  it.each(engines)('%s: keeps the own setting, the first close and what was done', async (_, open) => {
    const sql = await open();
    try {
      const rows = await openTrialRetention(sql);
      expect(await rows.get('t')).toBeUndefined();
      expect(await rows.setSetting('t', { archiveAfterDays: 0, deleteAfterDays: undefined }, 1)).toMatchObject({
        setting: { archiveAfterDays: 0 },
        closedAt: null,
      });
      await rows.recordClosed('t', 5);
      await rows.recordClosed('t', 9); // a later look keeps the first
      await rows.recordDone('t', 'archive', 10, 3);
      await rows.setSetting('t', { deleteAfterDays: null }, 11); // replaces the setting, keeps the state
      await rows.recordClosed('u', 7);
      expect(await rows.list()).toEqual([
        { trialId: 't', setting: { deleteAfterDays: null }, closedAt: 5, archivedAt: 10, archivedPoints: 3, deletedAt: null, deletedPoints: null },
        { trialId: 'u', setting: {}, closedAt: 7, archivedAt: null, archivedPoints: null, deletedAt: null, deletedPoints: null },
      ]);
      await openTrialRetention(sql); // opened again: its migration is not run twice
      expect((await rows.list()).length).toBe(2);
    } finally {
      await sql.close();
    }
  });
});

describe('the schedule', () => {
  const dir = mkdtempSync(join(tmpdir(), 'arena-trial-retention-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('applies a bounded number of due actions per check, records them in the registry, and redoes an interrupted one', async () => {
    const period = { from: 0, to: DAY };
    const trials: Trial[] = ['t-1', 't-2', 't-3'].map((id) => ({
      id,
      name: id,
      siteId: 'site',
      vendorIds: [],
      protocolRef: 'REK 1',
      period,
      baseline: null,
      interventionFrom: null,
      status: 'completed',
      researchDeviceData: false,
      createdAt: 0,
    }));
    const calls: string[] = [];
    const audited: string[] = [];
    let failNextRecord = true;
    const sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    const stored = await openTrialRetention(sql);
    // A crash between the store's work and the record of it: the record fails once.
    const retention = {
      ...stored,
      recordDone: async (...args: Parameters<typeof stored.recordDone>) => {
        if (failNextRecord) {
          failNextRecord = false;
          throw new Error('killed');
        }
        return stored.recordDone(...args);
      },
    };
    const schedule = startTrialRetention({
      trials: { listTrials: async () => trials, getTrial: async (id) => trials.find((t) => t.id === id), listParticipants: async () => [] },
      retention,
      store: {
        archiveTrial: async (id) => {
          calls.push(`archive ${id}`);
          return calls.filter((c) => c === `archive ${id}`).length === 1 ? 5 : 0;
        },
        deleteTrial: async (id) => {
          calls.push(`delete ${id}`);
          return 0;
        },
      },
      audit: { append: async (e) => (audited.push(`${e.action} ${e.target}`), undefined as never) },
      defaults: { archiveAfterDays: 0, deleteAfterDays: null },
      intervalMs: 3_600_000,
      maxPerCheck: 2,
      logger: createLogger('silent'),
      now: () => 2 * DAY,
    });
    // The check at start archived t-1 and was cut short before recording it; these run after it.
    expect(await schedule.check()).toEqual([
      { trialId: 't-1', action: 'archive', points: 0 },
      { trialId: 't-2', action: 'archive', points: 5 },
    ]);
    expect(await schedule.check()).toEqual([{ trialId: 't-3', action: 'archive', points: 5 }]);
    expect(await schedule.check()).toEqual([]);
    await schedule.stop();
    expect(calls).toEqual(['archive t-1', 'archive t-1', 'archive t-2', 'archive t-3']);
    expect(audited.filter((a) => a.endsWith('t-1'))).toHaveLength(2); // repeated, never missing
    const states = await stored.list();
    expect(states.map((s) => [s.trialId, s.closedAt, s.archivedAt !== null])).toEqual([
      ['t-1', DAY, true],
      ['t-2', DAY, true],
      ['t-3', DAY, true],
    ]);
    expect(dueActions(retentionViews(trials, states, { archiveAfterDays: 0, deleteAfterDays: null }, 2 * DAY), 2 * DAY)).toEqual([]);
    await sql.close();

    // The state is in the file: reopened, it is all there.
    const again = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    expect((await (await openTrialRetention(again)).list()).map((s) => s.trialId)).toEqual(['t-1', 't-2', 't-3']);
    await again.close();
  });
});

describe('the all-in-one hub', () => {
  const HOUR = 3_600_000;
  /** One trial per case, each with one participant and one scale; values unique to it. */
  const TRIALS = {
    arch: { participant: 'PSEUDO-ARCH-1', device: 'AQ-ARCH', weight: 71.2347, rejected: 93.1179 },
    del: { participant: 'PSEUDO-DEL-1', device: 'AQ-DEL', weight: 83.4561, rejected: 92.8813 },
    keep: { participant: 'PSEUDO-KEEP-1', device: 'AQ-KEEP', weight: 66.1237, rejected: 57.3391 },
  } as const;
  type TrialId = keyof typeof TRIALS;
  const COMMENT = 'DEL slipped near the quartz window';
  let hub: TestHub;
  let researcher: string;
  const clients: MqttClient[] = [];

  const ok = async (path: string, body?: unknown, method?: string) => {
    const res = await hub.api(path, { body, ...(method ? { method } : {}) });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  };
  const dataset = async (trial: TrialId): Promise<string[]> => {
    const res = await hub.api(`/v1/trials/${trial}/dataset?format=csv`, { token: researcher });
    expect(res.status, String(res.body)).toBe(200);
    return String(res.body).trim().split(/\r?\n/);
  };
  const retentionOf = async (trial: TrialId) => ok(`/v1/trials/${trial}/retention`);

  beforeAll(async () => {
    hub = await startTestHub({ ARENA_TRIAL_RETENTION_CHECK_S: '1' });
    const start = Date.now() - HOUR;
    await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
    await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 3 });
    await ok('/v1/vendors', { id: 'aqua', name: 'AquaScale' });
    await ok('/v1/vendors', { id: 'rs', name: 'RoomSense' });
    let bed = 0;
    for (const [trial, t] of Object.entries(TRIALS)) {
      await ok('/v1/trials', {
        id: trial,
        name: trial,
        siteId: 'ward',
        vendorIds: ['aqua', 'rs'],
        protocolRef: 'REK 2026/1',
        period: { from: start, to: start + 24 * HOUR },
      });
      await ok(`/v1/trials/${trial}`, { status: 'running' }, 'PATCH');
      await ok(`/v1/trials/${trial}/participants`, { id: t.participant });
      await ok(`/v1/participants/${t.participant}/consents`, { scope: 'research', grantedAt: start, formVersion: 'v1' });
      const created = await ok('/v1/devices', { id: t.device, vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
      await ok(`/v1/trials/${trial}/assignments`, { deviceId: t.device, participantId: t.participant, roomId: 'room-1', bed: ++bed, from: start });
      const c = await connect(hub.mqttPort, t.device, created.secret);
      clients.push(c);
      const weigh = (value: number, unit: string) =>
        publish(
          c,
          `devices/${t.device}/measurements`,
          JSON.stringify({ serial: t.device, measured_at: new Date().toISOString(), kind: 'weight', value, unit }),
        );
      await weigh(t.weight, 'kg');
      await weigh(t.rejected, 'stone'); // a rejection, with its raw payload
    }
    // A fall of the participant whose trial is deleted, acknowledged with a comment: the alarm goes with the trial.
    await ok(`/v1/participants/${TRIALS.del.participant}/consents`, { scope: 'care.live', grantedAt: start, formVersion: 'v1' });
    const sensor = await ok('/v1/devices', { id: 'RS-DEL', vendorId: 'rs', profileId: 'roomsense-3d', roomId: 'room-1' });
    await ok('/v1/trials/del/assignments', { deviceId: 'RS-DEL', participantId: TRIALS.del.participant, roomId: 'room-1', bed: 2, from: start });
    const rs = await connect(hub.mqttPort, 'RS-DEL', sensor.secret);
    clients.push(rs);
    await publish(
      rs,
      'devices/RS-DEL/events',
      JSON.stringify({ sensor: 'RS-DEL', time: Date.now(), event: { type: 'FALL_DETECTED', zone: 'floor-bedside', confidence: 0.97 } }),
    );
    const alarm = await until('the fall alarm', async () =>
      ((await ok('/v1/alarms')).items as { id: string; participantId: string | null }[]).find((a) => a.participantId === TRIALS.del.participant),
    );
    await ok(`/v1/alarms/${alarm.id}/ack`, { comment: COMMENT });
    researcher = (await ok('/v1/tokens', { role: 'researcher', trialIds: Object.keys(TRIALS), label: 'study' })).token;
    for (const c of clients.splice(0)) await end(c);
  }, 120_000);
  afterAll(async () => {
    for (const c of clients) await end(c);
    await hub?.dispose();
  });

  it('refuses every other role on the retention routes', async () => {
    const vendor = (await ok('/v1/tokens', { role: 'vendor', vendorId: 'aqua', label: 'v' })).token;
    for (const token of [researcher, vendor]) {
      expect((await hub.api('/v1/retention', { token })).status).toBe(403);
      expect((await hub.api('/v1/trials/arch/retention', { token })).status).toBe(403);
      expect((await hub.api('/v1/trials/arch/retention', { method: 'PUT', body: { archiveAfterDays: 0 }, token })).status).toBe(403);
    }
    expect((await hub.api('/v1/retention', { token: null })).status).toBe(401);
    expect((await hub.api('/v1/trials/nope/retention', { method: 'PUT', body: { archiveAfterDays: 0 } })).status).toBe(404);
    expect((await hub.api('/v1/trials/arch/retention', { method: 'PUT', body: { archiveAfterDays: -1 } })).status).toBe(400);
  });

  it('archives a trial closed with archive-after 0 days, and its dataset reads the same', async () => {
    const before = await dataset('arch');
    expect(before.some((l) => l.includes(String(TRIALS.arch.weight)))).toBe(true);
    expect((await retentionOf('arch')).next).toBeNull(); // open, and no default

    expect(await ok('/v1/trials/arch/retention', { archiveAfterDays: 0 }, 'PUT')).toMatchObject({ setting: { archiveAfterDays: 0 }, next: null });
    await ok('/v1/trials/arch', { status: 'completed' }, 'PATCH');
    const done = await until('arch archived', async () => {
      const r = await retentionOf('arch');
      return r.archivedAt ? r : undefined;
    });
    expect(done).toMatchObject({ archivedPoints: 1, deletedAt: null, next: null, closedAt: expect.any(String) });
    expect(readdirSync(join(hub.dataDir, 'telemetry.duckdb.archive')).filter((f) => f.endsWith('.parquet'))).toHaveLength(1);
    // Out of the live table, in the archive: the device's readings no longer show it, the dataset does.
    expect((await ok(`/v1/devices/${TRIALS.arch.device}/readings`)).items).toEqual([]);
    expect(await dataset('arch')).toEqual(before);
    const audit = (await ok(`/v1/audit?action=${encodeURIComponent('trial retention: archive')}`)).items as { target: string; detail: { points: number } }[];
    expect(audit.map((a) => [a.target, a.detail.points])).toEqual([['arch', 1]]);
  });

  it('lists what falls due in a dry run without doing it', async () => {
    const before = await dataset('del');
    await ok('/v1/trials/del/retention', { deleteAfterDays: 30 }, 'PUT');
    await ok('/v1/trials/del', { status: 'completed' }, 'PATCH');
    const now = await ok('/v1/retention');
    expect(now.defaults).toEqual(NEVER);
    expect(now.due).toEqual([]);
    expect(now.items.find((i: { trialId: string }) => i.trialId === 'del').next).toMatchObject({ action: 'delete' });
    const later = await ok(`/v1/retention?at=${encodeURIComponent(new Date(Date.now() + 31 * DAY).toISOString())}`);
    expect(later.due.map((d: { trialId: string; next: { action: string } }) => [d.trialId, d.next.action])).toEqual([['del', 'delete']]);
    expect((await retentionOf('del')).deletedAt).toBeNull();
    expect(await dataset('del')).toEqual(before);
  });

  it('deletes trials with delete-after 0 days and leaves no byte of them in the data folder', async () => {
    // The search sees the trials' values before (else it would pass for nothing).
    const archive = readdirSync(join(hub.dataDir, 'telemetry.duckdb.archive'))[0];
    expect(search({ ...needlesOf('del'), ...needlesOf('arch') })).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^journal\/.*: del weight as text$/),
        'telemetry.duckdb: del weight as double',
        'telemetry.duckdb: del rejected value as text',
        'telemetry.duckdb: arch rejected value as text',
        `telemetry.duckdb.archive/${archive}: arch weight as double`,
      ]),
    );
    expect(search({ comment: Buffer.from(COMMENT) })).not.toEqual([]);
    await ok('/v1/trials/del/retention', { deleteAfterDays: 0 }, 'PUT');
    await ok('/v1/trials/arch/retention', { archiveAfterDays: 0, deleteAfterDays: 0 }, 'PUT');
    for (const trial of ['del', 'arch'] as const) {
      const done = await until(`${trial} deleted`, async () => {
        const r = await retentionOf(trial);
        return r.deletedAt ? r : undefined;
      });
      expect(done.next).toBeNull();
      expect(await dataset(trial)).toHaveLength(1); // the header
    }
    expect(readdirSync(join(hub.dataDir, 'telemetry.duckdb.archive'))).toEqual([]);
    expect(search({ ...needlesOf('del'), ...needlesOf('arch'), comment: Buffer.from(COMMENT) })).toEqual([]);
    expect(((await ok('/v1/alarms')).items as { participantId: string | null }[]).filter((a) => a.participantId === TRIALS.del.participant)).toEqual([]);
    // The same search finds the trial that stays, and the API serves it.
    expect(search(needlesOf('keep')).length).toBeGreaterThan(0);
    expect((await ok(`/v1/devices/${TRIALS.keep.device}/readings`)).items.map((r: { value: number }) => r.value)).toEqual([TRIALS.keep.weight]);
  });

  const needlesOf = (trial: TrialId): Record<string, Buffer> => ({
    [`${trial} weight as text`]: Buffer.from(String(TRIALS[trial].weight)),
    [`${trial} weight as double`]: asDouble(TRIALS[trial].weight),
    [`${trial} rejected value as text`]: Buffer.from(String(TRIALS[trial].rejected)),
  });
  const search = (needles: Record<string, Buffer>): string[] => searchFolder(hub.dataDir, needles);
});
