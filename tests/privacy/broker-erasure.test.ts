import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { COMMITTED_TOPIC, decodeCommitted, encodeCommitted, withoutParticipants } from '../../kernel/committed-wire.js';
import type { Point } from '../../kernel/telemetry.js';
import { freePort, startService, type Readiness, type Service } from '../../soak/processes.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { roomSense } from '../alarms/fixtures.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { levelDbFilesHolding } from './leveldb-files.js';

/**
 * Erasure reaching the split broker's session store (issue #11; broker/erasure.ts). With
 * the API away, ingest's commit forwards of two participants queue in the broker's
 * LevelDB for the API's persistent session and for a second persistent subscriber; with
 * ingest away, their devices' next messages queue there for ingest. One participant is
 * erased through a second API process (another client id, so it takes none of the
 * queue). Then no file of the broker's data folder may hold anything of theirs (id,
 * values; LevelDB tables read block by block, decompressed), and what is queued for the
 * other participant is delivered: their fall raises its alarm when the API is back, and
 * none is raised for the erased one. A forward published after the erasure that still
 * names them reaches no subscriber with their points. Also for an erasure made while the
 * broker was down.
 * Real processes from dist/ (npm run build first) on a real PostgreSQL; telemetry in
 * each service's own DuckDB file, so the restarted API replays nothing and its alarms
 * come from the queue alone.
 */

const SECRET = 'broker-erasure-service-secret';
const SERVICE_USER = 'arena-ingest';
const SITE = 'ward-e';
const P = 'P-erase-4417';
const Q = 'Q-keep-5528';
const BOTH = [P, Q] as const;
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

/** What each participant's devices send, with values found nowhere else. */
const OF = {
  [P]: { device: 'RS3D-P', room: 'r-1', confidence: 0.8731, committedTemp: 31.8125, queuedTemp: 31.9375 },
  [Q]: { device: 'RS3D-Q', room: 'r-2', confidence: 0.6247, committedTemp: 28.4375, queuedTemp: 28.5625 },
} as const;
const needlesOf = (id: typeof P | typeof Q): string[] => {
  const o = OF[id];
  return [id, String(o.confidence), String(o.committedTemp), String(o.queuedTemp)];
};
const fall = (device: string, confidence: number): string =>
  JSON.stringify({ sensor: device, time: Date.now(), event: { type: 'FALL_DETECTED', confidence, zone: 'floor-bedside' } });
const heartbeat = (device: string, temp: number): string => JSON.stringify({ sensor: device, time: Date.now(), status: { temp_c: temp } });

describe('the committed wire without a participant', () => {
  it("drops exactly their points, leaves the others' as they were, and says when nothing is left", () => {
    const at = Date.parse('2026-12-01T10:00:00Z');
    const of = (participantId: string, messageId: bigint): Point[] =>
      roomSense('FALL_DETECTED', at, { participantId, siteId: SITE, roomId: 'r-1' }).map((p) => ({ ...p, messageId }));
    const body = encodeCommitted(
      [
        { messageId: 1n, points: [...of(P, 1n), ...of(Q, 1n)] },
        { messageId: 2n, points: of(Q, 2n) },
        { messageId: 3n, points: of(P, 3n) },
      ],
      65536,
    ).payloads[0]!.body;
    const rest = withoutParticipants(body, new Set([P]))!;
    expect(rest.body.includes(P)).toBe(false);
    const decoded = decodeCommitted(rest.body);
    expect(decoded).toEqual({
      ok: true,
      invalid: [],
      deliveries: [
        { messageId: 1n, points: of(Q, 1n) },
        { messageId: 2n, points: of(Q, 2n) },
      ],
    });
    expect(rest.points).toBe(2);
    expect(withoutParticipants(body, new Set(['someone-else']))).toBeUndefined();
    expect(withoutParticipants(encodeCommitted([{ messageId: 3n, points: of(P, 3n) }], 65536).payloads[0]!.body, new Set([P]))?.points).toBe(0);
    expect(withoutParticipants(Buffer.from('null'), new Set([P]))).toBeUndefined();
  });
});

describe("erasure in the split broker's session store", () => {
  let pg: RunningPostgres;
  beforeAll(async () => {
    pg = await startPostgres();
  }, 120_000);
  afterAll(async () => {
    await pg?.stop();
  });

  let dataDir: string;
  const running: Service[] = [];
  const clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => end(c)));
    await Promise.all(running.splice(0).map((s) => s.kill9()));
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** A registry with P and Q each assigned a fall sensor in a room of their own, and the three services' starters. */
  async function layout() {
    dataDir = mkdtempSync(join(tmpdir(), 'arena-broker-erasure-'));
    const registryUrl = await pg.newDatabase('brokererasure');
    const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
    const now = Date.now();
    await registry.createSite({ id: SITE, name: 'Ward E', kind: 'patient-room' });
    await registry.createVendor({ id: 'roomsense', name: 'RoomSense' });
    await registry.createTrial({
      id: 't-1',
      name: 'Falls',
      siteId: SITE,
      vendorIds: ['roomsense'],
      protocolRef: 'REK 1',
      period: { from: now - 7_200_000, to: now + 86_400_000 },
    });
    await registry.setTrialStatus('t-1', 'running');
    const secrets: Record<string, string> = {};
    for (const id of [P, Q] as const) {
      const { device, room } = OF[id];
      await registry.createRoom({ id: room, siteId: SITE, name: room, beds: 1 });
      secrets[device] = (await registry.createDevice({ id: device, vendorId: 'roomsense', profileId: 'roomsense-3d', siteId: SITE, roomId: room })).secret;
      await registry.enrolParticipant({ id, trialId: 't-1' });
      await registry.createAssignment({ trialId: 't-1', deviceId: device, participantId: id, roomId: room, bed: 1, from: now - 3_600_000 });
    }
    const admin = (await registry.issueToken({ role: 'admin', label: 'broker erasure test', expiresAt: null })).token;
    await registry.close();

    const ports = { mqtt: await freePort(), ws: await freePort(), api: await freePort(), ingest: await freePort() };
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    const common = {
      ARENA_REGISTRY_URL: registryUrl,
      BROKER_SERVICE_SECRET: SECRET,
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(ports.mqtt),
      ARENA_STORE: 'duckdb',
    };
    const brokerDir = join(dataDir, 'broker-data');
    const track = async (s: Promise<Service>): Promise<Service> => {
      const service = await s;
      running.push(service);
      return service;
    };
    const call = (path: string, method = 'GET') => fetch(`${apiUrl}${path}`, { method, headers: { authorization: `Bearer ${admin}` } });
    return {
      brokerDir,
      startBroker: () =>
        track(
          startService({
            name: 'broker',
            entry: 'broker/main.js',
            logFile: join(dataDir, 'broker.log'),
            ready: { port: ports.mqtt },
            env: { ...common, ARENA_DATA_DIR: brokerDir, MQTT_WS_PORT: String(ports.ws), LOG_LEVEL: 'info' },
          }),
        ),
      startIngest: () =>
        track(
          startService({
            name: 'ingest',
            entry: 'ingest/main.js',
            logFile: join(dataDir, 'ingest.log'),
            ready: { logLine: 'arena-hub ingest is up' },
            env: { ...common, ARENA_DATA_DIR: join(dataDir, 'ingest-data'), INGEST_HTTP_PORT: String(ports.ingest), LOG_LEVEL: 'info' },
          }),
        ),
      /**
       * `the` API (client id arena-api, its alarm feed subscribed before it counts as up),
       * or the `eraser`: another process with a persistent session of its own, started
       * after the queue built up, so it takes none of it.
       */
      startApi: (which: 'the' | 'eraser', ready: Readiness = { ok: `${apiUrl}/readyz` }) =>
        track(
          startService({
            name: `api (${which})`,
            entry: 'api/main.js',
            logFile: join(dataDir, `api-${which}.log`),
            ready,
            env: {
              ...common,
              ARENA_DATA_DIR: join(dataDir, `api-${which}-data`),
              API_PORT: String(ports.api),
              API_CLIENT_ID: which === 'the' ? 'arena-api' : 'arena-api-eraser',
              LOG_LEVEL: 'info',
            },
          }),
        ),
      /** Messages ingest has committed and acknowledged since it started. */
      acknowledged: async (): Promise<number> =>
        ((await (await fetch(`http://127.0.0.1:${ports.ingest}/stats`)).json()) as { acknowledged: number }).acknowledged,
      device: async (id: string): Promise<MqttClient> => {
        const c = await connect(ports.mqtt, id, secrets[id]!, { clientId: `c-${id}` });
        clients.push(c);
        return c;
      },
      /** Another persistent subscriber to the commit feed (the service account, as a second consumer would be). */
      tap: async (): Promise<{ points: Point[]; client: MqttClient }> => {
        const client = mqtt.connect({
          host: '127.0.0.1',
          port: ports.mqtt,
          username: SERVICE_USER,
          password: SECRET,
          clientId: 'feed-tap',
          clean: false,
          reconnectPeriod: 0,
        });
        clients.push(client);
        // Listening before the CONNACK: the queued messages may come in the same read.
        const points: Point[] = [];
        client.on('message', (_topic, body) => {
          const d = decodeCommitted(body);
          if (d.ok) points.push(...d.deliveries.flatMap((x) => x.points));
        });
        await new Promise((resolve) => client.once('connect', resolve));
        await client.subscribeAsync(COMMITTED_TOPIC, { qos: 1 });
        return { points, client };
      },
      erase: async (participantId: string): Promise<number> => (await call(`/v1/participants/${participantId}/data`, 'DELETE')).status,
      alarmRooms: async (): Promise<(string | null)[]> => {
        const res = await call(`/v1/alarms?siteId=${SITE}`);
        expect(res.status).toBe(200);
        return ((await res.json()) as { items: { roomId: string | null; rule: string }[] }).items.filter((a) => a.rule === 'fall').map((a) => a.roomId);
      },
    };
  }

  type Layout = Awaited<ReturnType<typeof layout>>;
  /** The needles of `id` the broker's files hold. */
  const heldOf = (l: Layout, id: typeof P | typeof Q): string[] => needlesOf(id).filter((n) => levelDbFilesHolding(l.brokerDir, n).length > 0);

  /**
   * With the API killed, each participant's fall and heartbeat are committed by ingest and
   * their forwards queue at the broker (ingest stops only once the broker has acknowledged
   * them); with ingest stopped, each device's next heartbeat queues there for ingest.
   * Resolves once the broker's files hold all of it.
   */
  async function queueAtTheBroker(l: Layout, api: Service, ingest: Service): Promise<void> {
    const devices = { [P]: await l.device(OF[P].device), [Q]: await l.device(OF[Q].device) };
    await api.kill9();
    for (const id of [P, Q] as const) {
      await publish(devices[id], `devices/${OF[id].device}/events`, fall(OF[id].device, OF[id].confidence));
      await publish(devices[id], `devices/${OF[id].device}/events`, heartbeat(OF[id].device, OF[id].committedTemp));
    }
    await until('ingest has committed the four messages', async () => (await l.acknowledged()) === 4);
    expect(await ingest.stop()).toBe(0);
    for (const id of [P, Q] as const) await publish(devices[id], `devices/${OF[id].device}/events`, heartbeat(OF[id].device, OF[id].queuedTemp));
    await until('the device messages are queued for ingest', () => BOTH.every((id) => heldOf(l, id).length === 4), 20_000, 200);
  }

  it("removes the erased participant's queued forwards and device messages, and every trace of them in its files; the other's are delivered", {
    timeout: 180_000,
  }, async () => {
    const l = await layout();
    await l.startBroker();
    const ingest = await l.startIngest();
    const api = await l.startApi('the');
    await end((await l.tap()).client); // its session stays, subscribed, and queues too
    await queueAtTheBroker(l, api, ingest);

    const eraser = await l.startApi('eraser');
    expect(await l.erase(P)).toBe(200);
    await until("nothing of the erased participant in the broker's files", () => heldOf(l, P).length === 0, 20_000, 200);
    expect(heldOf(l, Q)).toEqual(needlesOf(Q));
    expect(await eraser.stop()).toBe(0);

    // The API back: the other participant's fall, queued while it was away, raises its alarm.
    await l.startApi('the');
    await until("the other participant's queued fall raises its alarm", async () => (await l.alarmRooms()).includes(OF[Q].room));
    const tap = await l.tap();
    await until("the other participant's queued points reach the second subscriber", () =>
      tap.points.some((p) => p.kind === 'reading' && p.value === OF[Q].committedTemp),
    );
    // A forward published after the erasure that still names them (ingest attributes by
    // receive time, and may have taken a message of theirs before the erasure reached the
    // broker): the broker leaves their points out before routing or queuing it.
    const after = 990_001n;
    const points = BOTH.flatMap((id) => roomSense('FALL_DETECTED', Date.now(), { participantId: id, siteId: SITE, roomId: OF[id].room, trialId: 't-1' }));
    const late = encodeCommitted([{ messageId: after, points: points.map((p, seq) => ({ ...p, seq, messageId: after })) }], 65536).payloads[0]!.body;
    await tap.client.publishAsync(COMMITTED_TOPIC, late, { qos: 1 });
    await until('the late forward reaches its subscribers', () => tap.points.some((p) => p.messageId === after));
    expect(tap.points.filter((p) => p.messageId === after).map((p) => p.participantId)).toEqual([Q]);

    // Ingest back: the other participant's queued message is committed and forwarded; then a
    // message the erased participant's device sends now, after its own queued one in the same session.
    await l.startIngest();
    await until("the other participant's queued device message is committed", () =>
      tap.points.some((p) => p.kind === 'reading' && p.value === OF[Q].queuedTemp),
    );
    const afterwards = 30.0625;
    await publish(await l.device(OF[P].device), `devices/${OF[P].device}/events`, heartbeat(OF[P].device, afterwards));
    await until('a later message of that device is committed', () => tap.points.some((p) => p.kind === 'reading' && p.value === afterwards));

    expect(tap.points.filter((p) => p.participantId === P)).toEqual([]);
    expect(tap.points.filter((p) => p.kind === 'reading' && p.value === OF[P].queuedTemp)).toEqual([]);
    expect(tap.points.find((p) => p.kind === 'reading' && p.value === afterwards)?.participantId).toBeNull();
    expect(tap.points.filter((p) => p.participantId === Q).map((p) => (p.kind === 'reading' ? p.value : p.name))).toEqual([
      'fall',
      OF[Q].committedTemp,
      'fall',
      OF[Q].queuedTemp,
    ]);
    expect(await l.alarmRooms()).toEqual([OF[Q].room]);
  });

  it('does the same at its start for an erasure made while it was down', { timeout: 180_000 }, async () => {
    const l = await layout();
    const broker = await l.startBroker();
    const ingest = await l.startIngest();
    const api = await l.startApi('the');
    await queueAtTheBroker(l, api, ingest);

    expect(await broker.stop()).toBe(0);
    const eraser = await l.startApi('eraser', { logLine: 'arena-hub api is up' });
    expect(await l.erase(P)).toBe(200);
    expect(await eraser.stop()).toBe(0);
    expect(heldOf(l, P)).toEqual(needlesOf(P));

    // Up means listening, and the broker listens only once it has handled the erasures it missed.
    await l.startBroker();
    expect(heldOf(l, P)).toEqual([]);
    expect(heldOf(l, Q)).toEqual(needlesOf(Q));
    await l.startApi('the');
    await until("the other participant's queued fall raises its alarm", async () => (await l.alarmRooms()).includes(OF[Q].room));
    expect(await l.alarmRooms()).toEqual([OF[Q].room]);
  });
});
