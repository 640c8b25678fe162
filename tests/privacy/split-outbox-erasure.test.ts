import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { DeliveryStatus, TelemetryStore } from '../../kernel/ports.js';
import type { Point, WriteResult } from '../../kernel/telemetry.js';
import { erasedAmong } from '../../service/adapters.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';
import { until } from '../helpers/poll.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { readableFiles } from './influx-files.js';

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

/** InfluxDB's write endpoint behind a gate: 503 (as a server that is down) until opened. */
async function gate(upstream: string): Promise<{ url: string; open(): void; close(): Promise<void> }> {
  let open = false;
  const proxy: Server = createServer((req, res) => {
    if (!open) return void res.writeHead(503).end();
    const headers = { ...req.headers };
    delete headers.host;
    const out = request(new URL(req.url ?? '/', upstream), { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    open: () => void (open = true),
    close: () => new Promise<void>((resolve) => proxy.close(() => resolve())),
  };
}

const double = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v); // InfluxDB's WAL encodes floats big-endian
  return b;
};
const holding = (needle: Buffer): string[] =>
  readableFiles(server.dir, ['data', 'wal'])
    .filter((f) => f.bytes.includes(needle))
    .map((f) => f.path);
const all = async (s: TelemetryStore): Promise<Point[]> => {
  const out: Point[] = [];
  for await (const p of s.points({})) out.push(p);
  return out;
};

describe('erasure in the split layout, with points still in ingest', () => {
  it("delivers none of an erased participant's queued points, all of the others', and keeps the rejection counted without them", {
    timeout: 120_000,
  }, async () => {
    const registryUrl = await pg.newDatabase('erasure');
    const api = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const ingestRegistry = await openSqlRegistry(await openPostgresSqlClient(registryUrl), { profiles: contractProfiles() });
    const held = await gate(server.v2url);
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

      const points = await all(eraser);
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
      expect((await all(eraser)).filter((p) => p.deviceId === 'dev-p')).toEqual([]);

      // Nor in influxd's files (its data and WAL, WAL entries decompressed).
      expect(holding(Buffer.from(P_SECRET))).toEqual([]);
      for (const v of P_VALUES) expect(holding(double(v))).toEqual([]);
      expect(holding(double(40.5)).length).toBeGreaterThan(0); // the search finds what is there
    } finally {
      await writer.close();
      await eraser.close();
      await held.close();
      await ingestRegistry.close();
      await api.close();
    }
  });
});
