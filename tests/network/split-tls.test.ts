import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { registerFleetIn } from '../../soak/arena.js';
import type { FleetDevice } from '../../soak/fleet.js';
import { freePort, startService, type Service } from '../../soak/processes.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { until } from '../helpers/poll.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { makePki } from './pki.js';

/**
 * The split layout as docker-compose.yml runs it: the broker with TLS on and plain
 * listeners off, ingest reaching it over TLS by another name than the certificate's
 * (compose: `broker`, checked against MQTT_TLS_SERVER_NAME), mosquitto_pub (Debian
 * mosquitto-clients) as the device. Real processes from dist/ (npm run build first).
 */

const SECRET = 'split-tls-service-secret';
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 });

let pg: RunningPostgres;
let dataDir: string;
let device: FleetDevice;
const running: Service[] = [];

beforeAll(async () => {
  expect(spawnSync('mosquitto_pub', ['--help']).error, 'mosquitto_pub (Debian mosquitto-clients)').toBeUndefined();
  pg = await startPostgres();
}, 120_000);
afterAll(async () => {
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  await pg?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const refused = (port: number): Promise<boolean> =>
  new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });

function mosquittoPub(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('mosquitto_pub', ['-h', '127.0.0.1', '-V', 'mqttv311', '-q', '1', ...args], { timeout: 15_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
}

describe('split ingest over TLS, the broker with no plain listener', () => {
  it('stores a message mosquitto_pub sent over TLS, taken by ingest over TLS only', { timeout: 180_000 }, async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'arena-split-tls-'));
    const registryUrl = await pg.newDatabase('splittls');
    const registry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles });
    [device] = (await registerFleetIn(registry, 1, 'STLS')) as [FleetDevice];
    await registry.close();

    const pki = makePki();
    const ca = pki.ca('arena-ca');
    // As a public certificate: the arena's host name (and the address the device uses here), never `127.0.0.1` as a name ingest could check.
    const server = pki.issue(ca, 'broker', { cn: 'arena.test', san: 'DNS:arena.test,IP:127.0.0.1' });
    const ports = { plain: await freePort(), ws: await freePort(), tls: await freePort(), wss: await freePort(), http: await freePort() };
    const common = {
      ARENA_REGISTRY_URL: registryUrl,
      BROKER_SERVICE_SECRET: SECRET,
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(ports.plain),
      MQTT_TLS_PORT: String(ports.tls),
    };

    running.push(
      await startService({
        name: 'broker',
        entry: 'broker/main.js',
        logFile: join(dataDir, 'broker.log'),
        ready: { port: ports.tls },
        env: {
          ...common,
          ARENA_DATA_DIR: join(dataDir, 'broker-data'),
          MQTT_PLAIN: 'off',
          MQTT_WS_PORT: String(ports.ws),
          MQTT_WSS_PORT: String(ports.wss),
          TLS_CERT_FILE: server.cert,
          TLS_KEY_FILE: server.key,
          LOG_LEVEL: 'warn',
        },
      }),
    );
    expect(await refused(ports.plain), 'plain MQTT listener').toBe(true);
    expect(await refused(ports.ws), 'plain WebSocket listener').toBe(true);

    const ingestDir = join(dataDir, 'ingest-data');
    const ingest = await startService({
      name: 'ingest',
      entry: 'ingest/main.js',
      logFile: join(dataDir, 'ingest.log'),
      ready: { logLine: 'arena-hub ingest is up' },
      env: {
        ...common,
        ARENA_DATA_DIR: ingestDir,
        ARENA_STORE: 'duckdb',
        MQTT_HOST: 'localhost', // not the name the certificate is checked against
        MQTT_TLS_CA_FILE: ca.cert,
        MQTT_TLS_SERVER_NAME: 'arena.test',
        INGEST_HTTP_PORT: String(ports.http),
        LOG_LEVEL: 'info',
      },
    });
    running.push(ingest);

    const payload = JSON.stringify({
      serial: device.deviceId,
      measured_at: new Date(Date.now() - 60_000).toISOString(),
      kind: 'weight',
      value: 71_234,
      unit: 'g',
    });
    const pub = await mosquittoPub([
      '-p',
      String(ports.tls),
      '--cafile',
      ca.cert,
      '-i',
      device.deviceId,
      '-u',
      device.deviceId,
      '-P',
      device.secret,
      '-t',
      `devices/${device.deviceId}/measurements`,
      '-m',
      payload,
    ]);
    // Exit 0 at QoS 1: the broker sent PUBACK, which it does only once ingest has committed the message.
    expect(pub, pub.stderr).toMatchObject({ code: 0 });
    await until(
      'ingest stores the message',
      async () => ((await (await fetch(`http://127.0.0.1:${ports.http}/stats`)).json()) as { storedMessages: number }).storedMessages >= 1,
      30_000,
    );
    expect(await ingest.stop()).toBe(0);
    const store = await openDuckDbTelemetryStore({ path: join(ingestDir, 'telemetry.duckdb') });
    try {
      const values: number[] = [];
      for await (const p of store.points({ deviceIds: [device.deviceId] })) if (p.kind === 'reading') values.push(p.value);
      expect(values).toEqual([71.234]);
    } finally {
      await store.close();
    }
  });
});
