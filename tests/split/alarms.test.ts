import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { loadProfiles } from '../../device-profiles/load.js';
import { startCommitForward } from '../../ingest/commit-forward.js';
import type { Decided } from '../../ingest/pipeline.js';
import { COMMITTED_TOPIC, decodeCommitted, encodeCommitted, type CommittedDelivery } from '../../kernel/committed-wire.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { freePort, startService, type Service } from '../../soak/processes.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { aquaScale, roomSense } from '../alarms/fixtures.js';
import { startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { connect } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';

/**
 * Alarms and the ward board's live stream in the split layout: ingest forwards its
 * commits over the broker (kernel/committed-wire.ts) to the API, which hosts the alarm
 * engine. Real processes from dist/ (npm run build first), configured as
 * docker-compose.yml does: the registry and the alarm tables in PostgreSQL, telemetry
 * in InfluxDB (Debian's 1.6.7 behind the test bridge).
 */

const SECRET = 'split-alarms-service-secret';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });
const silent = createLogger('silent');

describe('the commit wire format', () => {
  const fall = roomSense('FALL_DETECTED', Date.parse('2026-11-23T22:00:00Z'));
  const withId = (points: Point[], messageId: bigint): Point[] => points.map((p) => ({ ...p, messageId }));

  it('round-trips points with 64-bit message ids, as zod-validated data', () => {
    const top = (1n << 64n) - 1n;
    const deliveries: CommittedDelivery[] = [{ messageId: top, points: withId(fall, top) }];
    const { payloads, oversized } = encodeCommitted(deliveries, 64 * 1024);
    expect(oversized).toBe(0);
    expect(payloads).toHaveLength(1);
    const decoded = decodeCommitted(payloads[0]!.body);
    expect(decoded).toEqual({ ok: true, deliveries, invalid: [] });
    if (decoded.ok) expectTypeOf(decoded.deliveries[0]!.points[0]!).toEqualTypeOf<Point>();
  });

  it('splits a large commit over payloads under the limit, one message over several if need be', () => {
    const readings = Array.from({ length: 300 }, (_, i) => aquaScale('intake', 100 + i, 'ml', Date.parse('2026-11-23T08:00:00Z') + i)[0]!);
    const one = 7n;
    const many = withId(readings, one).map((p, seq) => ({ ...p, seq }));
    const { payloads } = encodeCommitted([{ messageId: one, points: many }], 8 * 1024);
    expect(payloads.length).toBeGreaterThan(1);
    for (const p of payloads) expect(p.body.length).toBeLessThanOrEqual(8 * 1024);
    const back = payloads.flatMap((p) => {
      const d = decodeCommitted(p.body);
      return d.ok ? d.deliveries.flatMap((x) => x.points) : [];
    });
    expect(back).toEqual(many);
    expect(payloads.reduce((n, p) => n + p.points, 0)).toBe(300);
  });

  it('leaves out a point too large for any payload, and refuses what does not validate, delivery by delivery', () => {
    const huge = { ...fall[0]!, kind: 'event', attributes: { note: 'x'.repeat(4000) } } as Point;
    expect(encodeCommitted([{ messageId: 1n, points: [huge] }], 2048)).toEqual({ payloads: [], oversized: 1 });

    const good = JSON.parse(encodeCommitted([{ messageId: 2n, points: withId(fall, 2n) }], 65536).payloads[0]!.body.toString()) as { deliveries: unknown[] };
    const body = Buffer.from(
      JSON.stringify({ v: 1, deliveries: [{ messageId: '-1', points: [] }, good.deliveries[0], { messageId: '3', points: [{ kind: 'reading' }] }] }),
    );
    const decoded = decodeCommitted(body);
    expect(decoded.ok && decoded.deliveries.map((d) => d.messageId)).toEqual([2n]);
    expect(decoded.ok && decoded.invalid.map((i) => i.index)).toEqual([0, 2]);
    expect(decodeCommitted(Buffer.from('{"v":2,"deliveries":[]}')).ok).toBe(false);
    expect(decodeCommitted(Buffer.from('not json')).ok).toBe(false);
  });
});

describe("ingest's forward never holds ingest up", () => {
  it('returns at once with no broker, buffers within its bound and counts what it drops', async () => {
    const port = await freePort(); // nothing listens
    const forward = startCommitForward({
      url: `mqtt://127.0.0.1:${port}`,
      username: 'u',
      password: 'p',
      clientId: 'fwd-test',
      maxBufferBytes: 4096,
      logger: silent,
      reconnectMs: 60_000,
    });
    const decided = (i: number): Decided => {
      const points = aquaScale('intake', i, 'ml', Date.now());
      return { id: points[0]!.messageId, deviceId: 'AQ-1', receivedAt: Date.now(), points, rejections: [] };
    };
    const started = performance.now();
    for (let i = 0; i < 200; i++) forward.forward([decided(i)]);
    expect(performance.now() - started).toBeLessThan(200);
    await until('the forward drops what its bound cannot hold', () => forward.stats().dropped > 0); // the publishes run on a later turn
    const s = forward.stats();
    expect(s.bufferedBytes).toBeLessThanOrEqual(4096);
    expect(s.forwarded).toBe(0);
    expect(s.dropped).toBeGreaterThan(0);
    await forward.stop(100);
    expect(forward.stats()).toMatchObject({ forwarded: 0, dropped: 200, bufferedBytes: 0 });
  });
});

describe('the alarm engine judges a redelivered point once', () => {
  let dir: string;
  let sql: SqlClient;
  let store: TelemetryStore;
  const engines: AlarmEngine[] = [];
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arena-split-alarm-engine-'));
    sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  });
  afterEach(async () => {
    for (const e of engines.splice(0)) await e.close();
    await store.close();
    await sql.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const open = async (): Promise<AlarmEngine> => {
    const e = await openAlarmEngine({
      sql,
      store,
      profiles,
      logger: silent,
      config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 72 * 3_600_000 },
      publish: () => undefined,
    });
    engines.push(e);
    return e;
  };

  it('a fluid intake delivered again, live or after the replay of a restart, counts once in the balance', async () => {
    const who = { participantId: 'p-1', trialId: 'trial-1' };
    let engine = await open();
    await engine.putSettings('p-1', { siteId: 'site-a', fluid: { windowH: 24, maxNetGainMl: 1500 } }, { id: 'tok', label: 'nurse' });
    const commit = async (points: Point[]) => {
      await store.write({ messages: [{ id: points[0]!.messageId, deviceId: 'AQ-1', receivedAt: points[0]!.receivedAt }], points, rejections: [] });
      return engine.onCommitted([{ points }]);
    };
    const first = aquaScale('intake', 800, 'ml', Date.now() - 60_000, who);
    expect(await commit(first)).toEqual(first);
    expect(engine.onCommitted([{ points: first }])).toEqual([]); // a device resent it
    expect(await engine.listAlarms({ states: ['raised'] })).toEqual([]);

    await engine.close();
    engines.splice(0);
    engine = await open(); // replays `first` from the store
    expect(engine.onCommitted([{ points: first }])).toEqual([]); // the persistent session redelivers it
    await commit(aquaScale('intake', 600, 'ml', Date.now(), who));
    expect(await engine.listAlarms({ states: ['raised'] })).toEqual([]); // 1400 mL, not 2200
    await commit(aquaScale('intake', 200, 'ml', Date.now(), who));
    expect((await engine.listAlarms({ states: ['raised'] })).map((a) => [a.rule, a.detail])).toEqual([
      ['fluid_balance', expect.objectContaining({ netMl: 1600 })],
    ]);
  });
});

describe('alarms and the live stream in the split layout', () => {
  let pg: RunningPostgres;
  let influx: RunningInfluxd;
  const SITE = 'ward-3';

  beforeAll(async () => {
    [pg, influx] = await Promise.all([startPostgres(), startInfluxd('arena')]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([pg?.stop(), influx?.stop()]);
  });

  let databases = 0;
  /** A fresh registry (with a ward of two rooms, a fall sensor in each) and telemetry database. */
  async function arena() {
    const registryUrl = await pg.newDatabase('alarms');
    const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
    await registry.createSite({ id: SITE, name: 'Ward 3', kind: 'patient-room' });
    for (const room of ['r-101', 'r-102']) await registry.createRoom({ id: room, siteId: SITE, name: room, beds: 1 });
    await registry.createVendor({ id: 'roomsense', name: 'RoomSense' });
    const secrets: Record<string, string> = {};
    for (const [id, roomId] of [
      ['RS3D-101', 'r-101'],
      ['RS3D-102', 'r-102'],
    ] as const) {
      secrets[id] = (await registry.createDevice({ id, vendorId: 'roomsense', profileId: 'roomsense-3d', siteId: SITE, roomId })).secret;
    }
    const admin = (await registry.issueToken({ role: 'admin', label: 'split alarms test', expiresAt: null })).token;
    await registry.close();
    const database = `alarms${++databases}`;
    await influx.query(`CREATE DATABASE "${database}"`);
    return { registryUrl, database, secrets, admin };
  }

  let dataDir: string;
  const running: Service[] = [];
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
    await Promise.all(running.splice(0).map((s) => s.kill9()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function layout() {
    dataDir = mkdtempSync(join(tmpdir(), 'arena-split-alarms-'));
    const { registryUrl, database, secrets, admin } = await arena();
    const ports = { mqtt: await freePort(), ws: await freePort(), api: await freePort() };
    const common = { ARENA_REGISTRY_URL: registryUrl, BROKER_SERVICE_SECRET: SECRET, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(ports.mqtt) };
    const telemetry = {
      ARENA_STORE: 'influx',
      INFLUX_URL: influx.v2url,
      INFLUX_TOKEN: 'test-token',
      INFLUX_ORG: 'arena',
      INFLUX_BUCKET: database,
      INFLUX_DATABASE: database,
    };
    const track = async (s: Promise<Service>): Promise<Service> => {
      const service = await s;
      running.push(service);
      return service;
    };
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    return {
      mqttUrl: `mqtt://127.0.0.1:${ports.mqtt}`,
      apiUrl,
      /** A device of the ward, connected. */
      device: async (id: string): Promise<MqttClient> => {
        const c = await connect(ports.mqtt, id, secrets[id]!, { clientId: `c-${id}`, protocolVersion: 4 });
        clients.push(c);
        return c;
      },
      /** The site's alarms, as an admin sees them. */
      alarms: async (): Promise<AlarmDto[]> => {
        const res = await fetch(`${apiUrl}/v1/alarms?siteId=${SITE}`, { headers: { authorization: `Bearer ${admin}` } });
        expect(res.status).toBe(200);
        return ((await res.json()) as { items: AlarmDto[] }).items;
      },
      live: () => liveStream(apiUrl, admin),
      startBroker: () =>
        track(
          startService({
            name: 'broker',
            entry: 'broker/main.js',
            logFile: join(dataDir, 'broker.log'),
            ready: { port: ports.mqtt },
            env: { ...common, ARENA_DATA_DIR: join(dataDir, 'broker-data'), MQTT_WS_PORT: String(ports.ws), LOG_LEVEL: 'warn' },
          }),
        ),
      startIngest: () =>
        track(
          startService({
            name: 'ingest',
            entry: 'ingest/main.js',
            logFile: join(dataDir, 'ingest.log'),
            ready: { logLine: 'arena-hub ingest is up' },
            env: { ...common, ...telemetry, ARENA_DATA_DIR: join(dataDir, 'ingest-data'), LOG_LEVEL: 'info' },
          }),
        ),
      /** Ready when GET /readyz answers 200: listening, and its alarm feed subscribed (the two happen in either order). */
      startApi: (env: Record<string, string> = {}) =>
        track(
          startService({
            name: 'api',
            entry: 'api/main.js',
            logFile: join(dataDir, 'api.log'),
            ready: { ok: `${apiUrl}/readyz` },
            env: {
              ...common,
              ...telemetry,
              ARENA_DATA_DIR: join(dataDir, 'api-data'),
              API_HOST: '127.0.0.1',
              API_PORT: String(ports.api),
              LOG_LEVEL: 'info',
              ...env,
            },
          }),
        ),
      /** How many events of the device ingest has stored in InfluxDB (its outbox delivers them behind the PUBACK). */
      storedEvents: async (deviceId: string): Promise<number> => {
        const r = (await influx.query(`SELECT count("seq") FROM "event" WHERE "device" = '${deviceId}'`, database)) as {
          results: { series?: { values: [string, number][] }[] }[];
        };
        return r.results[0]?.series?.[0]?.values[0]?.[1] ?? 0;
      },
      /** An empty telemetry database: an API on it replays nothing at start. */
      emptyTelemetry: async (): Promise<Record<string, string>> => {
        const empty = `empty${++databases}`;
        await influx.query(`CREATE DATABASE "${empty}"`);
        return { INFLUX_BUCKET: empty, INFLUX_DATABASE: empty };
      },
    };
  }

  type AlarmDto = { id: string; rule: string; roomId: string | null; siteId: string | null; state: string; triggerCount: number };
  const fallPayload = (id: string, t = Date.now()): string =>
    JSON.stringify({ sensor: id, time: t, event: { type: 'FALL_DETECTED', confidence: 0.93, zone: 'floor-bedside' } });

  /** An SSE client of GET /v1/live: the events it has read so far, as they arrive. */
  async function liveStream(apiUrl: string, admin: string) {
    const ctl = new AbortController();
    const res = await fetch(`${apiUrl}/v1/live?siteId=${SITE}`, { headers: { authorization: `Bearer ${admin}` }, signal: ctl.signal });
    expect(res.status).toBe(200);
    const events: { event: string; data: Record<string, unknown>; at: number }[] = [];
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    void (async () => {
      let buffer = '';
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        buffer += value;
        for (let i: number; (i = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(i + 2)) {
          const block = buffer.slice(0, i).split('\n');
          const event = block.find((l) => l.startsWith('event: '))?.slice(7);
          const data = block.find((l) => l.startsWith('data: '))?.slice(6);
          if (event && data) events.push({ event, data: JSON.parse(data) as Record<string, unknown>, at: performance.now() });
        }
      }
    })();
    return { events, close: () => ctl.abort() };
  }

  it('raises a fall on the API and streams it live; across API restarts keeps it and catches up, each fall counted once', { timeout: 180_000 }, async () => {
    const l = await layout();
    await l.startBroker();
    await l.startIngest();
    let api = await l.startApi();

    const live = await l.live();
    await expect.poll(() => live.events.map((e) => e.event)).toContain('hello');
    const a = await l.device('RS3D-101');
    const sent = performance.now();
    await a.publishAsync('devices/RS3D-101/events', fallPayload('RS3D-101'), { qos: 1 });

    await expect
      .poll(() => live.events.filter((e) => e.event === 'alarm' || e.event === 'event').map((e) => [e.event, e.data.rule ?? e.data.name]), { timeout: 10_000 })
      .toEqual([
        ['alarm', 'fall'],
        ['event', 'fall'],
      ]);
    const alarmEvent = live.events.find((e) => e.event === 'alarm')!;
    console.log(`[split alarms] MQTT publish to the live alarm event: ${Math.round(alarmEvent.at - sent)} ms`);
    expect(alarmEvent.data).toMatchObject({ rule: 'fall', siteId: SITE, roomId: 'r-101', severity: 40, alertCode: '4.1', withheld: false });
    live.close();

    const raised = await l.alarms();
    expect(raised).toEqual([expect.objectContaining({ rule: 'fall', roomId: 'r-101', state: 'raised', triggerCount: 1 })]);

    // A crash. The API's persistent session keeps ingest's commits at the broker meanwhile;
    // restarted on a telemetry database that does not have them (as when ingest's outbox
    // in front of InfluxDB lags), it catches up from the session alone.
    await api.kill9();
    const b = await l.device('RS3D-102');
    await b.publishAsync('devices/RS3D-102/events', fallPayload('RS3D-102'), { qos: 1 });
    await a.publishAsync('devices/RS3D-101/events', fallPayload('RS3D-101', Date.now() + 1), { qos: 1 });
    api = await l.startApi(await l.emptyTelemetry());
    const byRoom = async () => Object.fromEntries((await l.alarms()).map((x) => [x.roomId, [x.id, x.triggerCount]]));
    await expect.poll(byRoom, { timeout: 15_000 }).toEqual({ 'r-101': [raised[0]!.id, 2], 'r-102': [expect.any(String), 1] });
    const r102 = (await byRoom())['r-102']![0];

    // A graceful stop, a fall meanwhile, and a start on the real telemetry: the start-up
    // replay judges the recent falls again and the session delivers the new one, which the
    // replay has judged already. Each fall still counts once.
    expect(await api.stop()).toBe(0);
    await b.publishAsync('devices/RS3D-102/events', fallPayload('RS3D-102', Date.now() + 2), { qos: 1 });
    // Ingest's outbox has delivered it to InfluxDB, so the start-up replay has it too.
    await until('both falls of RS3D-102 in InfluxDB', async () => (await l.storedEvents('RS3D-102')) === 2);
    await l.startApi();
    await expect.poll(byRoom, { timeout: 15_000 }).toEqual({ 'r-101': [raised[0]!.id, 2], 'r-102': [r102, 2] });
    // Waits out a second judgement of the same fall (the replay's and the session's), which
    // must not come: an absence, not a condition to poll.
    await sleep(1500);
    expect(await byRoom()).toEqual({ 'r-101': [raised[0]!.id, 2], 'r-102': [r102, 2] });
  });

  it('keeps devices off the internal commit topic: no subscription, no publish', { timeout: 120_000 }, async () => {
    const l = await layout();
    await l.startBroker();
    await l.startIngest();
    await l.startApi();
    const c = await l.device('RS3D-102');
    for (const filter of [COMMITTED_TOPIC, '$arena/#', '#']) {
      const granted = await c.subscribeAsync(filter, { qos: 1 }).catch((e: { packet?: { granted: number[] } }) => e.packet?.granted);
      expect(JSON.stringify(granted), filter).toContain('128');
    }

    // A forged commit: a fall in room 101 that no sensor saw.
    const forged = encodeCommitted([{ messageId: 42n, points: roomSense('FALL_DETECTED', Date.now(), { siteId: SITE, roomId: 'r-101' }) }], 65536).payloads[0]!
      .body;
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish(COMMITTED_TOPIC, forged, { qos: 1 });
    await closed; // a device publishing off its own topics is disconnected
    // Waits out an alarm from the forged commit, which must not come: an absence, not a condition to poll.
    await sleep(1000);
    expect(await l.alarms()).toEqual([]);
  });
});
