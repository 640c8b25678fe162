import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { freePort, splitLayout, type Service } from '../../soak/processes.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { until } from '../helpers/poll.js';

/**
 * The split layout's registry freshness end to end: the broker (dist/broker/main.js) and
 * the API (dist/api/main.js) as separate processes on one PostgreSQL registry. A device
 * registered, re-keyed and deactivated through the running API is honoured by the running
 * broker without a restart, and a token issued by a third process works at the API.
 */

const SECRET = 'registry-reload-service-secret';

let pg: RunningPostgres;
let dataDir: string;
const running: Service[] = [];
beforeAll(async () => {
  pg = await startPostgres();
  dataDir = mkdtempSync(join(tmpdir(), 'arena-reload-'));
});
afterAll(async () => {
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Polls until `probe` answers true; fails naming `what` after ms. */

/** Whether the broker accepts these credentials now (CONNACK 0); the connection is closed at once. */
async function accepted(url: string, username: string, password: string): Promise<boolean> {
  try {
    const c = await mqtt.connectAsync(url, {
      username,
      password,
      clientId: `probe-${username}`,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
    });
    await c.endAsync(true);
    return true;
  } catch {
    return false;
  }
}

describe('registry freshness in the split layout', () => {
  it('a device registered through the running API connects to the running broker, and its changes follow', { timeout: 120_000 }, async () => {
    const registryUrl = await pg.newDatabase('reload');
    const ports = { mqtt: await freePort(), ws: await freePort(), ingestHttp: await freePort() };
    const apiPort = await freePort();
    const layout = splitLayout({ dataDir, registryUrl, ports, serviceSecret: SECRET });
    const broker = await layout.startBroker();
    running.push(broker);
    const api = await layout.startApi(apiPort);
    running.push(api);

    // The admin token comes from a third process (as an operator's tool would issue it): the API only knows it after a reload.
    const operator = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const { token } = await operator.issueToken({ role: 'admin', label: 'operator', expiresAt: null });
    await operator.close();
    const call = async <T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> => {
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
    };
    await until('the API accepts the token issued elsewhere', async () => (await call('GET', '/v1/vendors')).status === 200);

    expect((await call('POST', '/v1/vendors', { id: 'aqua', name: 'AquaScale' })).status).toBe(201);
    const created = await call<{ secret: string }>('POST', '/v1/devices', { id: 'AQ-RELOAD', vendorId: 'aqua', profileId: 'aquascale' });
    expect(created.status).toBe(201);
    const url = `mqtt://127.0.0.1:${ports.mqtt}`;
    await until('the running broker accepts the new device', () => accepted(url, 'AQ-RELOAD', created.body.secret));

    const rotated = await call<{ secret: string }>('POST', '/v1/devices/AQ-RELOAD/rotate-secret');
    expect(rotated.status).toBe(200);
    await until('the running broker accepts the new secret', () => accepted(url, 'AQ-RELOAD', rotated.body.secret));
    expect(await accepted(url, 'AQ-RELOAD', created.body.secret)).toBe(false);

    expect((await call('PATCH', '/v1/devices/AQ-RELOAD', { active: false })).status).toBe(200);
    await until('the running broker refuses the deactivated device', async () => !(await accepted(url, 'AQ-RELOAD', rotated.body.secret)));

    // The same broker process throughout.
    expect(broker.child.exitCode).toBeNull();
    expect(broker.child.signalCode).toBeNull();
    expect(await api.stop()).toBe(0);
    expect(await broker.stop()).toBe(0);
  });
});
