import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import { erasedAmong } from '../../service/adapters.js';
import { participantTags } from '../../stores/influx/participant-tag.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { allPoints, influxDouble, influxFilesHolding } from './influx-files.js';
import { startInfluxProxy } from './influx-proxy.js';
import { seedTwoParticipants } from './two-participants.js';

/**
 * The in-flight window of the split layout's erasure (stores/influx/README.md, "Erasure"):
 * ingest checked that P was not erased and sent P's points; the request is on the wire
 * (held by a proxy in front of the real influxd) while the API marks P erased and erases
 * P from InfluxDB; then it lands. Nothing of P may be left: not in what InfluxDB answers,
 * not in its files. Q's points are all there, P's rejection stays counted without P.
 */
const KEY = Buffer.alloc(32, 9);
const P = 'PSEUDO-P-4711x';
const Q = 'PSEUDO-Q-0815y';
const T = Date.parse('2025-06-03T10:00:00Z');
const P_EARLIER = 73.9137;
const P_IN_FLIGHT = 74.5521;
const Q_VALUES = [60.5, 61.125];
const P_SECRET = 'in-flight-secret-3307';
const place = { siteId: 'site-a', trialId: 'trial-1' };

assertInfluxdInstalled();
let server: RunningInfluxd;
let pg: RunningPostgres;
beforeAll(async () => {
  [server, pg] = await Promise.all([startInfluxd(), startPostgres()]);
});
afterAll(async () => {
  await Promise.all([server?.stop(), pg?.stop()]);
});

const holding = (needle: string | Buffer): string[] => influxFilesHolding(server.dir, ['data', 'wal', 'meta'], needle);

describe('erasure while a write of the participant is on the wire', () => {
  it('leaves nothing of the participant once the write lands after the erasure', { timeout: 120_000 }, async () => {
    const registry = await openSqlRegistry(await openPostgresSqlClient(await pg.newDatabase('inflight')), { profiles: contractProfiles() });
    const proxy = await startInfluxProxy(server.v2url);
    const opts = { participantKey: KEY, token: 't', org: 'arena', bucket: server.database, database: server.database };
    // Ingest's store (through the proxy) asks the registry; the API's erases.
    const writer = await openInfluxTelemetryStore({ ...opts, url: proxy.url, erasedAmong: erasedAmong(registry), logger: createLogger('silent') });
    const eraser = await openInfluxTelemetryStore({ ...opts, url: server.v2url });
    const of = (id: string) => ({ ...place, participantId: id, deviceId: id === P ? 'dev-p' : 'dev-q' });
    try {
      await seedTwoParticipants(registry, P, Q, T);
      await writer.write(batchOf([reading(1n, T, { ...of(P), value: P_EARLIER }), reading(2n, T, { ...of(Q), value: Q_VALUES[0] })]));

      // The next write carrying P's tag is held once the proxy has it whole.
      const held = proxy.holdWrite(participantTags(KEY).encode(P));
      const pRejected = rejection(5n, T + 2, { ...of(P), payload: P_SECRET, message: `no number in ${P_SECRET}` });
      const writing = writer.write(
        batchOf([reading(3n, T + 1, { ...of(P), value: P_IN_FLIGHT }), reading(4n, T + 1, { ...of(Q), value: Q_VALUES[1] })], [pRejected]),
      );
      await held.arrived;
      // The API's erasure (api/erasure.ts): the registry first, then the store; it ends before the write lands.
      await registry.markErased(P, Date.now());
      expect(await eraser.eraseParticipant(P)).toBe(1);
      held.release();
      expect(await writing).toEqual({ storedMessages: 3, duplicateMessages: 0 });

      const points = await allPoints(eraser);
      expect(points.filter((p) => p.participantId === P || p.deviceId === 'dev-p')).toEqual([]);
      expect(points.map((p) => (p.kind === 'reading' ? p.value : null))).toEqual(Q_VALUES);
      expect(await eraser.rejections({})).toEqual([{ ...pRejected, participantId: null, payload: null, message: '' }]);
      // Nor in influxd's files: data, WAL (entries decompressed) and meta.
      expect(holding(Buffer.from(P_SECRET))).toEqual([]);
      expect(holding(influxDouble(P_EARLIER))).toEqual([]);
      expect(holding(influxDouble(P_IN_FLIGHT))).toEqual([]);
      expect(holding(influxDouble(Q_VALUES[1]!)).length).toBeGreaterThan(0); // the search finds what is there

      // The message markers were written: a redelivery stays a duplicate and brings nothing back.
      expect(await writer.write(batchOf([reading(3n, T + 1, { ...of(P), value: P_IN_FLIGHT })]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
      expect((await allPoints(eraser)).filter((p) => p.deviceId === 'dev-p')).toEqual([]);
    } finally {
      await writer.close();
      await eraser.close();
      await proxy.close();
      await registry.close();
    }
  });
});
