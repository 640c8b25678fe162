import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Point } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { freePort, splitLayout, type Service } from '../../soak/processes.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { drink, flowpatch } from './flowpatch.js';
import { until } from '../helpers/poll.js';

/**
 * The split layout picks published profile versions up through the registry, as it does
 * device changes: the broker, ingest and the API as separate processes (dist/) on one
 * PostgreSQL registry; a profile published through the running API is in force in the
 * running broker and ingest, and what ingest stored names the version that decoded it.
 */

const SECRET = 'profiles-publish-service-secret';
let pg: RunningPostgres;
let dataDir: string;
const running: Service[] = [];
beforeAll(async () => {
  pg = await startPostgres();
  dataDir = mkdtempSync(join(tmpdir(), 'arena-profiles-split-'));
});
afterAll(async () => {
  await Promise.all(running.splice(0).map((s) => s.kill9()));
  await pg?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('profile versions in the split layout', () => {
  it('a version published through the running API is in force in the running broker and ingest', { timeout: 180_000 }, async () => {
    const registryUrl = await pg.newDatabase('profiles');
    const ports = { mqtt: await freePort(), ws: await freePort(), ingestHttp: await freePort() };
    const apiPort = await freePort();
    const layout = splitLayout({ dataDir, registryUrl, ports, serviceSecret: SECRET });
    const broker = await layout.startBroker();
    running.push(broker);
    const ingest = await layout.startIngest();
    running.push(ingest);
    const api = await layout.startApi(apiPort);
    running.push(api);

    const operator = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const { token } = await operator.issueToken({ role: 'admin', label: 'operator', expiresAt: null });
    await operator.close();
    const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> => {
      const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    };
    const stats = async (): Promise<{ accepted: number; rejected: number }> => (await fetch(`http://127.0.0.1:${ports.ingestHttp}/stats`)).json() as never;
    await until('the API accepts the operator token', async () => (await call('GET', '/v1/vendors')).status === 200);

    // The shipped folder was stored as versions by the first service up.
    expect((await call('GET', '/v1/profiles/aquascale/versions')).body.items).toEqual([expect.objectContaining({ version: '1.0.0', source: 'folder' })]);

    expect((await call('POST', '/v1/profiles', { yaml: flowpatch('1.0.0') })).status).toBe(201);
    expect((await call('POST', '/v1/vendors', { id: 'flowpatch-co', name: 'FlowPatch' })).status).toBe(201);
    const created = await call('POST', '/v1/devices', { id: 'FP-S', vendorId: 'flowpatch-co', profileId: 'flowpatch' });
    expect(created.status).toBe(201);

    const url = `mqtt://127.0.0.1:${ports.mqtt}`;
    /** Publishes at QoS 1 (PUBACK after ingest's commit) and answers whether ingest accepted it. */
    const sent = async (topic: string, volume: number): Promise<boolean> => {
      const before = await stats();
      let c: mqtt.MqttClient;
      try {
        c = await mqtt.connectAsync(url, {
          username: 'FP-S',
          password: created.body.secret,
          clientId: 'FP-S',
          protocolVersion: 4,
          reconnectPeriod: 0,
          connectTimeout: 10_000,
        });
      } catch {
        return false; // the broker does not know the device or its profile yet (or a loaded machine was slow to answer)
      }
      try {
        await c.publishAsync(topic, drink('FP-S', volume), { qos: 1 });
      } finally {
        await c.endAsync(true);
      }
      // Ingest counts the message as accepted or rejected; wait for that, so that a message
      // stored but not yet counted is not taken for a refusal and sent again.
      const after = await until('ingest counts the message', async () => {
        const now = await stats();
        return now.accepted + now.rejected !== before.accepted + before.rejected && now;
      });
      return after.accepted > before.accepted;
    };

    // Each probe is a message; those the processes refused before the reload are rejections, counted, not stored as points.
    await until('the running broker and ingest take the new profile', () => sent('arena/FP-S/flow', 2));
    expect((await call('POST', '/v1/profiles', { yaml: flowpatch('1.1.0') })).status).toBe(201);
    await until('the running broker and ingest take version 1.1.0 (its new topic)', () => sent('arena/FP-S/flow2', 1));
    // A probe that could not connect sent nothing, so trying again stores at most this one message.
    await until('version 1.1.0 decodes the first topic too', () => sent('arena/FP-S/flow', 3));

    // The same processes throughout.
    for (const s of [broker, ingest, api]) expect(s.child.exitCode).toBeNull();
    expect(await api.stop()).toBe(0);
    expect(await ingest.stop()).toBe(0);
    expect(await broker.stop()).toBe(0);

    const store = await openDuckDbTelemetryStore({ path: join(layout.ingestDataDir, 'telemetry.duckdb') });
    try {
      const points: Point[] = [];
      for await (const p of store.points({ deviceIds: ['FP-S'] })) points.push(p);
      // Sorted by value: two messages may share a device second.
      expect(points.map((p) => [p.kind === 'reading' ? p.value : null, p.profileVersion]).sort((a, b) => Number(a[0]) - Number(b[0]))).toEqual([
        [2, '1.0.0'],
        [100, '1.1.0'],
        [300, '1.1.0'],
      ]);
    } finally {
      await store.close();
    }
  });
});
