import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { freePort, startService, type Service } from '../../soak/processes.js';
import { ident } from '../../stores/influx/influxql.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { QueryClient, type Row } from '../../stores/influx/query-client.js';
import { participantTags } from '../../stores/influx/participant-tag.js';
import { loadParticipantTagKey } from '../../service/adapters.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { connect } from '../helpers/mqtt.js';

// No silent skip: without influxd this file fails and says how to get it.
assertInfluxdInstalled();

/**
 * Grafana's bucket in the split layout, configured as docker-compose.yml does: real
 * broker, ingest and api processes from dist/ (npm run build first), the registry in
 * PostgreSQL, telemetry in InfluxDB (Debian's 1.6.7 behind the test bridge). A fall
 * about a participant holding care.live reaches Grafana's database; one about a
 * participant without it reaches only the hub's.
 */
const SECRET = 'split-grafana-service-secret';
const SITE = 'ward-3';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

let pg: RunningPostgres;
let influx: RunningInfluxd;
let dataDir: string;
const running: Service[] = [];
const clients: MqttClient[] = [];

beforeAll(async () => {
  [pg, influx] = await Promise.all([startPostgres(), startInfluxd('arena')]);
  dataDir = mkdtempSync(join(tmpdir(), 'arena-split-grafana-'));
}, 120_000);
afterAll(async () => {
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  await Promise.all([pg?.stop(), influx?.stop()]);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe("Grafana's bucket in the split layout", () => {
  it("receives the api's copy of what the ward may show, and nothing else", { timeout: 120_000 }, async () => {
    const registryUrl = await pg.newDatabase('grafana');
    const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
    const now = Date.now();
    await registry.createSite({ id: SITE, name: 'Ward 3', kind: 'patient-room' });
    await registry.createVendor({ id: 'roomsense', name: 'RoomSense' });
    await registry.createTrial({
      id: 'TR',
      name: 'Trial',
      siteId: SITE,
      vendorIds: ['roomsense'],
      protocolRef: 'REK 1',
      period: { from: now - 86_400_000, to: now + 86_400_000 },
    });
    const secrets: Record<string, string> = {};
    for (const [id, participantId] of [
      ['RS3D-101', 'P1'],
      ['RS3D-102', 'P2'],
    ] as const) {
      const roomId = `r-${id.slice(-3)}`;
      await registry.createRoom({ id: roomId, siteId: SITE, name: roomId, beds: 1 });
      secrets[id] = (await registry.createDevice({ id, vendorId: 'roomsense', profileId: 'roomsense-3d', siteId: SITE, roomId })).secret;
      await registry.enrolParticipant({ id: participantId, trialId: 'TR' });
      await registry.createAssignment({ trialId: 'TR', deviceId: id, participantId, roomId, from: now - 3_600_000 });
    }
    await registry.grantConsent({ participantId: 'P1', scope: 'care.live', grantedAt: now - 3_600_000, formVersion: 'v1' });
    await registry.close();
    await influx.query(`CREATE DATABASE ${ident('arena-grafana')}`);

    const ports = { mqtt: await freePort(), ws: await freePort(), api: await freePort() };
    const common = { ARENA_REGISTRY_URL: registryUrl, BROKER_SERVICE_SECRET: SECRET, MQTT_HOST: '127.0.0.1', MQTT_PORT: String(ports.mqtt) };
    const telemetry = {
      ARENA_STORE: 'influx',
      INFLUX_URL: influx.v2url,
      INFLUX_TOKEN: 'test-token',
      INFLUX_ORG: 'arena',
      INFLUX_BUCKET: 'arena',
      INFLUX_DATABASE: 'arena',
    };
    const start = async (name: string, env: Record<string, string>, ready: Parameters<typeof startService>[0]['ready']) => {
      running.push(
        await startService({
          name,
          entry: `${name}/main.js`,
          logFile: join(dataDir, `${name}.log`),
          ready,
          env: { ...common, ARENA_DATA_DIR: join(dataDir, name), ...env },
        }),
      );
    };
    await start('broker', { MQTT_WS_PORT: String(ports.ws), LOG_LEVEL: 'warn' }, { port: ports.mqtt });
    await start('ingest', { ...telemetry, LOG_LEVEL: 'info' }, { logLine: 'arena-hub ingest is up' });
    await start(
      'api',
      {
        ...telemetry,
        INFLUX_GRAFANA_BUCKET: 'arena-grafana',
        INFLUX_GRAFANA_DATABASE: 'arena-grafana',
        API_HOST: '127.0.0.1',
        API_PORT: String(ports.api),
        LOG_LEVEL: 'info',
      },
      { ok: `http://127.0.0.1:${ports.api}/readyz` },
    );

    for (const id of ['RS3D-101', 'RS3D-102']) {
      const c = await connect(ports.mqtt, id, secrets[id]!, { clientId: `c-${id}`, protocolVersion: 4 });
      clients.push(c);
      const payload = JSON.stringify({ sensor: id, time: Date.now(), event: { type: 'FALL_DETECTED', confidence: 0.93, zone: 'floor-bedside' } });
      await c.publishAsync(`devices/${id}/events`, payload, { qos: 1 });
    }

    const falls = async (db: string): Promise<string[]> => {
      // The devices' falls; the alarm engine's own events (alarms/dataset-events.ts) go to the hub's bucket only.
      const rows: Row[] =
        (
          await new QueryClient({ url: influx.url, token: 'test-token', database: db, timeoutMs: 5_000 }).run([`SELECT * FROM "event" WHERE "name" = 'fall'`])
        )[0] ?? [];
      // The participant tag is the id encrypted under the key the services keep in the registry (stores/influx/participant-tag.ts).
      const tags = participantTags(await loadParticipantTagKey(registryUrl));
      return rows.map((r) => `${String(r.device)}:${typeof r.participant === 'string' ? tags.decode(r.participant) : '-'}`).sort();
    };
    const markers = async (db: string): Promise<string[]> => {
      const rows: Row[] =
        (await new QueryClient({ url: influx.url, token: 'test-token', database: db, timeoutMs: 5_000 }).run([`SELECT * FROM "message"`]))[0] ?? [];
      return rows.map((r) => String(r.device)).sort();
    };
    await expect.poll(() => falls('arena'), { timeout: 20_000 }).toEqual(['RS3D-101:P1', 'RS3D-102:P2']);
    await expect.poll(() => markers('arena-grafana'), { timeout: 20_000 }).toEqual(['RS3D-101', 'RS3D-102']);
    expect(await falls('arena-grafana')).toEqual(['RS3D-101:P1']);
  });
});
