import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { DeliveryStatus, TelemetryStore } from '../../kernel/ports.js';
import type { WriteResult } from '../../kernel/telemetry.js';
import { erasedAmong, loadParticipantTagKey, openSharedRegistry, openSharedStore } from '../../service/adapters.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';
import { searchFolder } from '../helpers/file-search.js';
import { until } from '../helpers/poll.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { allPoints, influxDouble, influxFilesHolding } from './influx-files.js';
import { startInfluxProxy } from './influx-proxy.js';
import { seedTwoParticipants } from './two-participants.js';

/**
 * The split layout's erasure against ingest's outbox (issue #11, "journal/outbox lines,
 * loaded or not"): P's points queued in ingest's outbox while InfluxDB is out of reach,
 * P erased the API's way (registry first, then the store), then delivery resumes. None
 * of P's points may reach InfluxDB; Q's all do; P's rejection stays counted without them.
 */
const KEY = Buffer.alloc(32, 7);
const T = Date.parse('2025-06-03T10:00:00Z');
const P_VALUES = [71.125, 72.375, 73.625];
const P_SECRET = 'p-secret-payload-5521';
const place = { siteId: 'site-a', trialId: 'trial-1' };

assertInfluxdInstalled();
let server: RunningInfluxd;
let pg: RunningPostgres;
const root = mkdtempSync(join(tmpdir(), 'arena-split-erasure-'));
beforeAll(async () => {
  [server, pg] = await Promise.all([startInfluxd(), startPostgres()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), pg?.stop()]);
  rmSync(root, { recursive: true, force: true });
});

const holding = (needle: string | Buffer): string[] => influxFilesHolding(server.dir, ['data', 'wal'], needle);

describe('erasure in the split layout, with points still in ingest', () => {
  it("delivers none of an erased participant's queued points, all of the others', and keeps the rejection counted without them", {
    timeout: 120_000,
  }, async () => {
    const registryUrl = await pg.newDatabase('erasure');
    const api = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const ingestRegistry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const held = await startInfluxProxy(server.v2url, { shut: true });
    const opts = { participantKey: KEY, token: 't', org: 'arena', bucket: server.database, database: server.database, timeoutMs: 10_000 };
    const delivered: WriteResult[] = [];
    const writer = (await withOutbox(
      await openInfluxTelemetryStore({ ...opts, url: held.url, erasedAmong: erasedAmong(ingestRegistry), logger: createLogger('silent') }),
      { dir: join(root, 'outbox'), maxBytes: 1 << 20, logger: createLogger('silent'), retry: { minMs: 5, maxMs: 50 }, onDelivered: (r) => delivered.push(r) },
    )) as TelemetryStore & { status(): DeliveryStatus };
    const eraser = await openInfluxTelemetryStore({ ...opts, url: server.v2url });
    try {
      await api.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
      await api.createVendor({ id: 'aqua', name: 'AquaScale' });
      await api.createTrial({
        id: 'trial-1',
        name: 'Trial 1',
        siteId: 'site-a',
        vendorIds: ['aqua'],
        protocolRef: 'REK 1',
        period: { from: 0, to: T + 86_400_000 },
      });
      await api.enrolParticipant({ id: 'P', trialId: 'trial-1' });
      await api.enrolParticipant({ id: 'Q', trialId: 'trial-1' });

      const ofP = P_VALUES.map((value, i) => reading(BigInt(10 + i), T + i, { ...place, participantId: 'P', deviceId: 'dev-p', value }));
      const ofQ = [0, 1, 2].map((i) => reading(BigInt(20 + i), T + i, { ...place, participantId: 'Q', deviceId: 'dev-q', value: 40.5 + i }));
      const pRejected = rejection(30n, T + 5, { ...place, participantId: 'P', deviceId: 'dev-p', payload: P_SECRET, message: `no number in ${P_SECRET}` });
      const qRejected = rejection(31n, T + 5, { ...place, participantId: 'Q', deviceId: 'dev-q' });
      const batch = batchOf([...ofP, ...ofQ], [pRejected, qRejected]);
      await writer.write(batch);
      await until('the outbox tries InfluxDB and fails', () => writer.status().storeFailing);
      expect(delivered).toEqual([]);

      // The API's erasure (api/erasure.ts): the registry first, then the store.
      await api.markErased('P', Date.now());
      expect(await eraser.eraseParticipant('P')).toBe(0);

      held.open();
      await until('the outbox delivers', () => writer.status().waitingBytes === 0 && delivered.length === 1);
      expect(delivered).toEqual([{ storedMessages: 8, duplicateMessages: 0 }]);

      const points = await allPoints(eraser);
      expect(points.filter((p) => p.participantId === 'P' || p.deviceId === 'dev-p')).toEqual([]);
      expect(points.filter((p) => p.participantId === 'Q')).toEqual(ofQ);
      const rejections = await eraser.rejections({});
      expect(rejections.filter((r) => r.deviceId === 'dev-p')).toEqual([{ ...pRejected, participantId: null, payload: null, message: '' }]);
      expect(rejections.filter((r) => r.deviceId === 'dev-q')).toEqual([qRejected]);
      expect(await eraser.rejectionCounts({})).toEqual([
        { deviceId: 'dev-p', code: 'SCHEMA_VIOLATION', count: 1 },
        { deviceId: 'dev-q', code: 'SCHEMA_VIOLATION', count: 1 },
      ]);

      // A redelivery of P's messages stays a duplicate: the markers were written.
      await writer.write(batchOf(ofP));
      await until('the redelivery is delivered', () => delivered.length === 2);
      expect(delivered[1]).toEqual({ storedMessages: 0, duplicateMessages: 3 });
      expect((await allPoints(eraser)).filter((p) => p.deviceId === 'dev-p')).toEqual([]);

      // Nor in influxd's files (its data and WAL, WAL entries decompressed).
      expect(holding(Buffer.from(P_SECRET))).toEqual([]);
      for (const v of P_VALUES) expect(holding(influxDouble(v))).toEqual([]);
      expect(holding(influxDouble(40.5)).length).toBeGreaterThan(0); // the search finds what is there
    } finally {
      await writer.close();
      await eraser.close();
      await held.close();
      await ingestRegistry.close();
      await api.close();
    }
  });
});

describe("erasure in the split layout, with the participant's lines in ingest's outbox files", () => {
  it("removes them from the queued, the delivered and the set-aside lines, even while InfluxDB is down, and keeps everyone else's", {
    timeout: 180_000,
  }, async () => {
    const P = 'PSEUDO-P-4711x';
    const Q = 'PSEUDO-Q-0815y';
    const SECRET = 'p-dose-missed-oxycodone-9931';
    const pValues = { deadLettered: 73.9137, delivered: 74.2281, queued: 75.6643, late: 76.1019 };
    const qValues = { deadLettered: 68.4421, delivered: 61.5573, queued: 59.3317 };
    const registryUrl = await pg.newDatabase('outbox_files');
    // A database of its own: its participant tags are under the registry's key, not KEY.
    const database = 'outbox_files';
    await server.query(`CREATE DATABASE ${database}`);
    const config = { registryUrl, store: { kind: 'influx', url: '', token: 't', org: 'arena', bucket: database, database, outboxMaxBytes: 1 << 20 } } as const;
    const dataDir = join(root, 'ingest-data');
    const proxy = await startInfluxProxy(server.v2url, { shut: true });
    const log = createLogger('silent');
    const ingestRegistry = await openSharedRegistry(config, contractProfiles(), log);
    const api = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const delivered: WriteResult[] = [];
    // Ingest's store as ingest/main.ts opens it: the outbox in front of InfluxDB, told of erasures by the registry.
    const writer = (await openSharedStore(
      { ...config, store: { ...config.store, url: proxy.url } },
      dataDir,
      log,
      'writer',
      (r) => delivered.push(r),
      ingestRegistry,
    )) as TelemetryStore & { status(): DeliveryStatus };
    const eraser = await openInfluxTelemetryStore({
      url: server.v2url,
      token: 't',
      org: 'arena',
      bucket: database,
      database,
      participantKey: await loadParticipantTagKey(registryUrl),
    });
    const of = (id: string) => ({ ...place, participantId: id, deviceId: id === P ? 'dev-p' : 'dev-q' });
    const needles = (values: readonly number[], ...texts: string[]): Record<string, Buffer> =>
      Object.fromEntries([...texts, ...values.map(String)].map((t) => [t, Buffer.from(t)]));
    const pNeedles = needles(Object.values(pValues), P, SECRET);
    try {
      await seedTwoParticipants(api, P, Q, T);

      // InfluxDB down: three batches queue. The first has a fractional device time, which the
      // store refuses whatever the server says: once InfluxDB is back it is set aside.
      await writer.write(batchOf([reading(1n, T + 0.5, { ...of(P), value: pValues.deadLettered }), reading(2n, T, { ...of(Q), value: qValues.deadLettered })]));
      await writer.write(batchOf([reading(3n, T + 1, { ...of(Q), value: 50.5 })]));
      await writer.write(batchOf([reading(4n, T + 2, { ...of(P), value: pValues.delivered }), reading(5n, T + 2, { ...of(Q), value: qValues.delivered })]));
      await until('the outbox finds InfluxDB down', () => writer.status().storeFailing);
      proxy.open();
      await until(
        'two batches delivered, one set aside',
        () => writer.status().waitingBytes === 0 && writer.status().setAsideBatches === 1 && delivered.length > 0,
      );
      // Down again: a batch with a point and a rejected payload of P's waits in the queue.
      proxy.shut();
      await writer.write(
        batchOf(
          [reading(6n, T + 3, { ...of(P), value: pValues.queued }), reading(7n, T + 3, { ...of(Q), value: qValues.queued })],
          [rejection(8n, T + 4, { ...of(P), payload: SECRET, message: `no number in ${SECRET}` })],
        ),
      );
      await until('the outbox finds InfluxDB down again', () => writer.status().storeFailing && writer.status().waitingBytes > 0);
      // Set aside, delivered (its segment not yet deleted) and queued: all three are in the files.
      expect(searchFolder(dataDir, pNeedles).sort()).toEqual(
        [
          `outbox/dead-letter.ndjson: ${P}`,
          `outbox/dead-letter.ndjson: ${pValues.deadLettered}`,
          `outbox/segment-000000000001.ndjson: ${P}`,
          `outbox/segment-000000000001.ndjson: ${pValues.deadLettered}`,
          `outbox/segment-000000000001.ndjson: ${pValues.delivered}`,
          `outbox/segment-000000000001.ndjson: ${pValues.queued}`,
          `outbox/segment-000000000001.ndjson: ${SECRET}`,
        ].sort(),
      );

      // The API's erasure (api/erasure.ts): the registry first, then the store. InfluxDB stays down for ingest.
      await api.markErased(P, Date.now());
      await eraser.eraseParticipant(P);
      await until("ingest's outbox files hold nothing of P", () => searchFolder(dataDir, pNeedles).length === 0);
      // Everyone else's lines stay: Q's set-aside point and Q's queued point.
      expect(searchFolder(dataDir, needles([qValues.deadLettered, qValues.queued], Q)).sort()).toEqual(
        [
          `outbox/dead-letter.ndjson: ${Q}`,
          `outbox/dead-letter.ndjson: ${qValues.deadLettered}`,
          `outbox/segment-000000000002.ndjson: ${Q}`,
          `outbox/segment-000000000002.ndjson: ${qValues.queued}`,
        ].sort(),
      );
      expect(writer.status().setAsideBatches).toBe(1);

      // A late message of P's (measured before the erasure) is queued without P.
      await writer.write(batchOf([reading(9n, T + 5, { ...of(P), value: pValues.late }), reading(10n, T + 5, { ...of(Q), value: 58.25 })]));
      expect(searchFolder(dataDir, pNeedles)).toEqual([]);

      proxy.open();
      await until('the queue is delivered', () => writer.status().waitingBytes === 0 && !writer.status().storeFailing);
      const points = await allPoints(eraser);
      expect(points.filter((p) => p.participantId === P || p.deviceId === 'dev-p')).toEqual([]);
      expect(points.filter((p) => p.participantId === Q).map((p) => (p.kind === 'reading' ? p.value : null))).toEqual([
        50.5,
        qValues.delivered,
        qValues.queued,
        58.25,
      ]);
      // P's rejection stays counted, without P, its payload and its message.
      expect((await eraser.rejections({})).map((r) => [r.deviceId, r.participantId, r.payload, r.message])).toEqual([['dev-p', null, null, '']]);
    } finally {
      await writer.close();
      await eraser.close();
      await proxy.close();
      await ingestRegistry.close();
      await api.close();
    }
  });
});

describe('erasure in the split layout while ingest is stopped', () => {
  it("removes the participant's queued lines when ingest starts again, before delivering anything", { timeout: 120_000 }, async () => {
    const P = 'PSEUDO-P-2291z';
    const Q = 'PSEUDO-Q-3307w';
    const registryUrl = await pg.newDatabase('ingest_stopped');
    const database = 'ingest_stopped';
    await server.query(`CREATE DATABASE ${database}`);
    const proxy = await startInfluxProxy(server.v2url, { shut: true });
    const config = {
      registryUrl,
      store: { kind: 'influx', url: proxy.url, token: 't', org: 'arena', bucket: database, database, outboxMaxBytes: 1 << 20 },
    } as const;
    const dataDir = join(root, 'stopped-ingest-data');
    const log = createLogger('silent');
    const ingestRegistry = await openSharedRegistry(config, contractProfiles(), log);
    const api = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const openIngest = async () =>
      (await openSharedStore(config, dataDir, log, 'writer', undefined, ingestRegistry)) as TelemetryStore & { status(): DeliveryStatus };
    try {
      await seedTwoParticipants(api, P, Q, T);
      const first = await openIngest();
      await first.write(
        batchOf([
          reading(1n, T, { ...place, participantId: P, deviceId: 'dev-p', value: 81.3377 }),
          reading(2n, T, { ...place, participantId: Q, deviceId: 'dev-q', value: 42.8125 }),
        ]),
      );
      await first.close(); // InfluxDB was down: the batch stays queued
      await api.markErased(P, Date.now());

      const again = await openIngest();
      try {
        // Nothing to wait for: the files are clean once the store is open, InfluxDB still down.
        expect(searchFolder(dataDir, { id: Buffer.from(P), value: Buffer.from('81.3377') })).toEqual([]);
        expect(searchFolder(dataDir, { id: Buffer.from(Q), value: Buffer.from('42.8125') }).length).toBe(2);
        expect(again.status().waitingBytes).toBeGreaterThan(0);
      } finally {
        await again.close();
      }
    } finally {
      await proxy.close();
      await ingestRegistry.close();
      await api.close();
    }
  });
});
