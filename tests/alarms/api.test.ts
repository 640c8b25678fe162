import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../api/app.js';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { createLiveBus, type LiveBus } from '../../alarms/live-bus.js';
import type { ConsentReader } from '../../kernel/consent.js';
import { createLogger } from '../../kernel/log.js';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { startApi, type ApiFixture } from '../api/fixture.js';
import { consentOf, mayShow } from '../../api/routes/live-access.js';
import { bedWatch, profiles, roomSense } from './fixtures.js';

/**
 * The alarm, settings, live and ward routes on the API fixture's real registry and store:
 * each refuses the wrong role, the wrong site binding and, for data, missing care.live.
 */
let f: ApiFixture;
let app: FastifyInstance;
let engine: AlarmEngine;
let bus: LiveBus;
let sql: SqlClient;
let dir: string;
let otherSite: string;
const ids: Record<string, string> = {};

// Participant p-yes holds care.live; p-no does not.
const consent: ConsentReader = { allows: async (pid, scope) => pid === 'p-yes' && scope === 'care.live', windows: async () => [] };
const NOW = Date.now();

/** What hub/start.ts does with a commit. */
function commit(points: Point[]): void {
  engine.onCommitted([{ points }]);
  for (const point of points) bus.publish({ kind: 'point', point });
}

const call = (token: string | null, opts: InjectOptions) =>
  app.inject({ ...opts, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers } });

beforeAll(async () => {
  f = await startApi();
  dir = mkdtempSync(join(tmpdir(), 'arena-alarm-api-'));
  sql = await openDuckDbSqlClient(join(dir, 'alarms.duckdb'));
  bus = createLiveBus();
  engine = await openAlarmEngine({
    sql,
    store: f.store,
    profiles,
    logger: createLogger('silent'),
    config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 3_600_000 },
    publish: bus.publish,
  });
  app = await buildApp({ registry: { ...f.registry, consent }, store: f.store, profiles, logger: createLogger('silent'), alarms: engine, live: bus });
  await f.registry.createSite({ id: 'site-b', name: 'Flat', kind: 'demo-flat' });
  await f.registry.enrolParticipant({ id: 'p-a', trialId: 'trial-1' });
  otherSite = (await f.registry.issueToken({ role: 'clinician', siteIds: ['site-b'], label: 'other ward', expiresAt: null })).token;

  commit(roomSense('FALL_DETECTED', NOW - 3000));
  commit(roomSense('BED_EXIT', NOW - 2000, { participantId: 'p-no', trialId: 'trial-1' }));
  commit(roomSense('INACTIVITY', NOW - 1000, { participantId: 'p-yes', trialId: 'trial-1' }, { duration_s: 3600 }));
  commit(roomSense('FALL_DETECTED', NOW - 500, { siteId: 'site-b', roomId: null }));
  for (const a of await engine.listAlarms({ states: ['raised'] })) ids[`${a.rule}:${a.siteId}`] = a.id;
});
afterAll(async () => {
  await app?.close();
  await engine?.close();
  await sql?.close();
  await f?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('roles: only clinicians and admins', () => {
  const routes: InjectOptions[] = [
    { method: 'GET', url: '/v1/alarms' },
    { method: 'GET', url: '/v1/alarms/alm-x' },
    { method: 'POST', url: '/v1/alarms/alm-x/ack', payload: {} },
    { method: 'POST', url: '/v1/alarms/alm-x/resolve', payload: {} },
    { method: 'POST', url: '/v1/alarms/alm-x/false-alarm', payload: {} },
    { method: 'GET', url: '/v1/alarm-settings' },
    { method: 'GET', url: '/v1/alarm-settings/p-1' },
    { method: 'PUT', url: '/v1/alarm-settings/p-1', payload: { siteId: 'site-a' } },
    { method: 'GET', url: '/v1/live/sites' },
    { method: 'GET', url: '/v1/live/board?siteId=site-a' },
    { method: 'GET', url: '/v1/live?siteId=site-a' },
  ];
  it.each(routes)('$method $url refuses vendors and researchers (403) and anonymous callers (401)', async (route) => {
    expect((await call(f.tokens.vendorA, route)).statusCode).toBe(403);
    expect((await call(f.tokens.researcher, route)).statusCode).toBe(403);
    expect((await call(null, route)).statusCode).toBe(401);
  });
});

describe('binding: a clinician sees only the sites its token is bound to', () => {
  it('lists its own sites only; another site answers as missing', async () => {
    const mine = (await call(f.tokens.clinician, { url: '/v1/alarms' })).json();
    expect(mine.items.map((a: { siteId: string }) => a.siteId)).toEqual(['site-a', 'site-a', 'site-a']);
    expect((await call(otherSite, { url: '/v1/alarms' })).json().items.map((a: { id: string }) => a.id)).toEqual([ids['fall:site-b']]);
    expect((await call(otherSite, { url: '/v1/alarms?siteId=site-a' })).statusCode).toBe(404);
    expect((await call(otherSite, { url: `/v1/alarms/${ids['fall:site-a']}` })).statusCode).toBe(404);
    expect((await call(otherSite, { method: 'POST', url: `/v1/alarms/${ids['fall:site-a']}/ack`, payload: {} })).statusCode).toBe(404);
    expect((await call(otherSite, { url: '/v1/live/board?siteId=site-a' })).statusCode).toBe(404);
    expect((await call(otherSite, { url: '/v1/live?siteId=site-a' })).statusCode).toBe(404);
    expect((await call(otherSite, { url: '/v1/live/sites' })).json().items.map((s: { id: string }) => s.id)).toEqual(['site-b']);
  });
  it("sets alarm settings only for its own site, and cannot read or move another site's participant", async () => {
    const put = (token: string, pid: string, body: object) => call(token, { method: 'PUT', url: `/v1/alarm-settings/${pid}`, payload: body });
    expect((await put(otherSite, 'p-b', { siteId: 'site-b' })).statusCode).toBe(404); // an unknown participant
    expect((await put(f.tokens.clinician, 'p-a', { siteId: 'site-b' })).statusCode).toBe(400); // not the participant's site
    const ok = await put(f.tokens.clinician, 'p-a', { siteId: 'site-a', dose: { windowMin: 45, notify: ['home nurse'] } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toMatchObject({
      participantId: 'p-a',
      siteId: 'site-a',
      paused: false,
      bedExit: { leftBed: true, satUp: false },
      dose: { windowMin: 45, notify: ['home nurse'] },
      updatedBy: { label: 'nurse' },
    });
    expect((await call(otherSite, { url: '/v1/alarm-settings/p-a' })).statusCode).toBe(404);
    expect((await put(otherSite, 'p-a', { siteId: 'site-b' })).statusCode).toBe(404);
    expect((await call(f.tokens.clinician, { url: '/v1/alarm-settings' })).json().items.map((s: { participantId: string }) => s.participantId)).toEqual([
      'p-a',
    ]);
    expect((await put(f.tokens.clinician, 'p-a', { siteId: 'site-a', bedExit: { windows: [{ from: '22:00', to: '7:00' }] } })).statusCode).toBe(400);
  });
});

describe('consent: care.live decides what a clinician sees', () => {
  it('an alarm about a participant without care.live is shown, with whom and what withheld', async () => {
    const items = (await call(f.tokens.clinician, { url: '/v1/alarms?siteId=site-a' })).json().items as {
      rule: string;
      withheld: boolean;
      participantId: string | null;
      detail: object;
    }[];
    const byRule = Object.fromEntries(items.map((a) => [a.rule, a]));
    expect(byRule.left_bed).toMatchObject({ withheld: true, participantId: null, trialId: null, detail: {}, alertCode: '4.2', roomId: 'room-1' });
    expect(byRule.inactivity).toMatchObject({ withheld: false, participantId: 'p-yes', detail: { duration_s: 3600 } });
    expect(byRule.fall).toMatchObject({ withheld: false, participantId: null, severity: 40, alertDisplay: 'Fall' });
  });
  it('the board leaves out readings of a participant without care.live and keeps device data', async () => {
    const bw = (records: Record<string, unknown>[], participantId: string | null) =>
      bedWatch(records, NOW - 60_000, { participantId, trialId: participantId && 'trial-1' }).map((p) => ({ ...p, deviceId: 'BW-1' }));
    const points = [...bw([{ n: 'resp_rate', u: '1/min', v: 22 }], 'p-no'), ...bw([{ n: 'battery', u: '%EL', v: 55 }], null)];
    await f.store.write({
      messages: [...new Map(points.map((p) => [p.messageId, { id: p.messageId, deviceId: 'BW-1', receivedAt: p.receivedAt }])).values()],
      points,
      rejections: [],
    });
    const board = (await call(f.tokens.clinician, { url: '/v1/live/board?siteId=site-a' })).json();
    const device = board.devices.find((d: { id: string }) => d.id === 'BW-1');
    expect(device.readings.map((r: { name: string }) => r.name)).toEqual(['battery_level']);
    expect(board.rooms).toEqual([{ id: 'room-1', name: 'Room 1', beds: 1 }]);
    expect(board.alarms.map((a: { rule: string }) => a.rule).sort()).toEqual(['fall', 'inactivity', 'left_bed']);
    // An admin runs the arena and reads unfiltered, as on the device-data routes.
    const admin = (await call(f.tokens.admin, { url: '/v1/live/board?siteId=site-a' })).json();
    expect(
      admin.devices
        .find((d: { id: string }) => d.id === 'BW-1')
        .readings.map((r: { name: string }) => r.name)
        .sort(),
    ).toEqual(['battery_level', 'respiratory_rate']);
  });
});

describe('the consent rule of the live view fails closed', () => {
  const nurse = { role: 'clinician', tokenId: 't', siteIds: ['site-a'] } as const;
  it('without a consent implementation nothing about a participant is shown; device data is', async () => {
    const none = consentOf({});
    expect(await mayShow(none, nurse, 'p-yes', 0, 1)).toBe(false);
    expect(await mayShow(none, nurse, null, 0, 1)).toBe(true);
  });
  it('an error while asking is a no', async () => {
    const broken: ConsentReader = { allows: () => Promise.reject(new Error('database gone')), windows: async () => [] };
    expect(await mayShow(broken, nurse, 'p-yes', 0, 1)).toBe(false);
  });
});

describe('lifecycle through the API', () => {
  it('acknowledge with a comment, refuse a second acknowledgement, resolve, refuse a false-alarm after that', async () => {
    const id = ids['fall:site-a']!;
    const acked = await call(f.tokens.clinician, { method: 'POST', url: `/v1/alarms/${id}/ack`, payload: { comment: 'on my way' } });
    expect(acked.statusCode).toBe(200);
    expect(acked.json()).toMatchObject({ state: 'acknowledged', acknowledgedBy: { label: 'nurse' }, ackComment: 'on my way' });
    const again = await call(f.tokens.admin, { method: 'POST', url: `/v1/alarms/${id}/ack`, payload: {} });
    expect(again.statusCode).toBe(409);
    expect(again.json().detail).toContain('acknowledged by nurse');
    expect((await call(f.tokens.clinician, { method: 'POST', url: `/v1/alarms/${id}/resolve`, payload: { comment: 'no injury' } })).json()).toMatchObject({
      state: 'resolved',
      closeComment: 'no injury',
    });
    expect((await call(f.tokens.clinician, { method: 'POST', url: `/v1/alarms/${id}/false-alarm`, payload: {} })).statusCode).toBe(409);
    expect((await call(f.tokens.clinician, { url: '/v1/alarms?siteId=site-a&state=closed' })).json().items.map((a: { id: string }) => a.id)).toEqual([id]);
  });
});

describe('GET /v1/live: server-sent events per site', () => {
  it('streams alarms and points of its site in order, withholding what care.live does not allow', async () => {
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const ctl = new AbortController();
    const res = await fetch(`${address}/v1/live?siteId=site-a`, { headers: { authorization: `Bearer ${f.tokens.clinician}` }, signal: ctl.signal });
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    const events: { event: string; data: Record<string, unknown> }[] = [];
    let buffer = '';
    const until = async (n: number) => {
      // Device-health events come and go with the points; they are not counted.
      while (events.filter((e) => e.event !== 'device').length < n) {
        const { value } = await reader.read();
        buffer += value;
        for (let i: number; (i = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(i + 2)) {
          const block = buffer.slice(0, i).split('\n');
          const event = block.find((l) => l.startsWith('event: '))?.slice(7);
          const data = block.find((l) => l.startsWith('data: '))?.slice(6);
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      }
    };
    await until(1);
    expect(events[0]).toMatchObject({ event: 'hello', data: { siteId: 'site-a' } });

    commit(roomSense('FALL_DETECTED', Date.now(), { siteId: 'site-b', roomId: null }));
    commit(roomSense('SITTING_ON_BED_EDGE', Date.now(), { participantId: 'p-no', trialId: 'trial-1' }));
    commit(roomSense('CHAIR_EXIT', Date.now(), { participantId: 'p-yes', trialId: 'trial-1' }));
    commit(roomSense('LONG_BATHROOM_STAY', Date.now(), { participantId: 'p-no', trialId: 'trial-1' }, { duration_s: 2400, zone: 'bathroom' }));
    commit(roomSense('FALL_DETECTED', Date.now()));
    await until(5);
    ctl.abort();
    const data = events.slice(1).filter((e) => e.event !== 'device');
    expect(data.map((e) => [e.event, e.data.name ?? e.data.rule, e.data.withheld])).toEqual([
      ['event', 'rose_from_chair', undefined],
      ['alarm', 'long_stay', true],
      ['alarm', 'fall', false],
      ['event', 'fall', undefined],
    ]);
    expect(data[1]!.data).toMatchObject({ participantId: null, detail: {}, alertCode: '4.23', severity: 30 });
  });
});

describe('GET /ward', () => {
  it('serves the page and its assets publicly, same-origin only', async () => {
    const page = await call(null, { url: '/ward' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toContain("connect-src 'self'");
    expect(page.headers['referrer-policy']).toBe('no-referrer');
    expect(page.body).toContain('/ward/app.js');
    for (const asset of ['/ward/app.js', '/ward/i18n.js', '/ward/style.css']) expect((await call(null, { url: asset })).statusCode).toBe(200);
  });
});

describe('POST without a body', () => {
  it('acknowledges without a comment', async () => {
    const id = ids['fall:site-b']!;
    const res = await call(otherSite, { method: 'POST', url: `/v1/alarms/${id}/ack` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ state: 'acknowledged', ackComment: null, acknowledgedBy: { label: 'other ward' } });
  });
});

describe('OpenAPI', () => {
  it('documents the alarm, settings, live and ward routes with their roles', async () => {
    const doc = (await call(null, { url: '/docs/json' })).json();
    for (const path of ['/v1/alarms', '/v1/alarms/{id}/ack', '/v1/alarm-settings/{participantId}', '/v1/live', '/v1/live/board', '/ward'])
      expect(Object.keys(doc.paths)).toContain(path);
    expect(doc.paths['/v1/live'].get.description).toContain('Roles: admin, clinician, board.');
    expect(doc.paths['/v1/alarm-settings/{participantId}'].put.requestBody.content['application/json'].schema.properties.bedExit).toBeDefined();
  });
});
