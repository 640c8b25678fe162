import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHubError } from '../../kernel/errors.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import { anyOf, ident, str, timeRange } from '../../stores/influx/influxql.js';
import { releaseSegments } from '../../stores/influx/release.js';
import { SCHEMA } from '../../stores/influx/schema.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { T0, batchOf, event, reading, rejection, telemetryStoreContract } from '../contract/telemetry-store.contract.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';
import { rejectsWith } from '../helpers/errors.js';

const PARTICIPANT_KEY = Buffer.alloc(32, 7);

// No silent skip: without influxd this file fails and says how to get it.
assertInfluxdInstalled();

let server: RunningInfluxd;
beforeAll(async () => {
  server = await startInfluxd();
});
afterAll(async () => {
  await server?.stop();
});

let databases = 0;
/** A fresh database per store, written through the v2-write bridge as a 2.x server would be. */
async function openFresh(pageSize?: number): Promise<{ store: TelemetryStore; db: string }> {
  const db = `t${++databases}`;
  await server.query(`CREATE DATABASE ${ident(db)}`);
  const store = await openInfluxTelemetryStore({
    participantKey: PARTICIPANT_KEY,
    url: server.v2url,
    token: 'test-token',
    org: 'arena',
    bucket: db,
    database: db,
    timeoutMs: 5_000,
    pageSize,
  });
  return { store, db };
}

// InfluxDB offers none of the optional operations (retention is the bucket's: stores/influx/README.md, "Retention"); the contract shows each absent.
telemetryStoreContract('influx', async () => (await openFresh()).store, { offers: [] });

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('InfluxQL quoting', () => {
  it('quotes identifiers and strings as the InfluxQL scanner reads them', () => {
    expect(ident('name')).toBe('"name"');
    expect(ident('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(str("it's")).toBe("'it\\'s'");
    expect(str('back\\slash')).toBe("'back\\\\slash'");
    expect(str('two\nlines')).toBe("'two\\nlines'");
    expect(str('"double"')).toBe(`'"double"'`);
    expect(anyOf('device', ['a', "b'"])).toBe(`("device" = 'a' OR "device" = 'b\\'')`);
    expect(() => anyOf('device', [])).toThrow(/empty list/);
    expect(timeRange(1, 2)).toBe('time >= 1000000 AND time < 2000000');
    expect(timeRange(1.2, undefined)).toBe('time >= 2000000 AND time < 9223372036854775806');
  });

  it('round-trips awkward tag values through write, filters and erasure on the real server', async () => {
    const { store } = await openFresh();
    const odd = ["qu'ote", 'back\\slash', 'dq"uote', 'com,ma sp ace=eq', 'ünï€ødé'];
    const points = odd.map((v, i) => reading(BigInt(i + 1), T0 + i, { deviceId: v, trialId: v, participantId: v, name: v, profileId: v }));
    await store.write(batchOf(points));
    for (const [i, v] of odd.entries()) {
      expect(await collect(store.points({ deviceIds: [v] }))).toEqual([points[i]]);
      expect(await collect(store.points({ trialId: v, names: [v] }))).toEqual([points[i]]);
      expect(await store.eraseParticipant(v)).toBe(1);
    }
    await store.close();
  });
});

describe('release segments', () => {
  it('cuts the range at window edges and merges overlapping windows of a participant', () => {
    const windows = [
      { participantId: 'a', from: 0, to: 10 },
      { participantId: 'a', from: 5, to: 20 },
      { participantId: 'b', from: 15, to: 30 },
      { participantId: '', from: 0, to: 100 }, // never treated as a participant
    ];
    expect(releaseSegments({ release: { windows, includeDeviceData: false } })).toEqual([
      { from: 0, to: 15, participants: ['a'] },
      { from: 15, to: 20, participants: ['a', 'b'] },
      { from: 20, to: 30, participants: ['b'] },
    ]);
    expect(releaseSegments({ from: 12, to: 40, release: { windows, includeDeviceData: true } })).toEqual([
      { from: 12, to: 15, participants: ['', 'a'] },
      { from: 15, to: 20, participants: ['', 'a', 'b'] },
      { from: 20, to: 30, participants: ['', 'b'] },
      { from: 30, to: 40, participants: [''] },
    ]);
    expect(releaseSegments({ release: { windows: [], includeDeviceData: true } })).toEqual([{ from: undefined, to: undefined, participants: [''] }]);
    expect(releaseSegments({ release: { windows: [], includeDeviceData: false } })).toEqual([]);
  });
});

describe('InfluxDB telemetry store', () => {
  it('keeps points of many messages in one series and millisecond apart, across batches', async () => {
    const { store } = await openFresh();
    // Ids equal mod 1000 all prefer the same nanosecond slot.
    const batches = [0, 1, 2].map((b) => batchOf(Array.from({ length: 40 }, (_, i) => reading(BigInt((b * 40 + i) * 1000 + 7), T0, { seq: 0 }))));
    for (const b of batches) expect(await store.write(b)).toEqual({ storedMessages: 40, duplicateMessages: 0 });
    const back = await collect(store.points({}));
    expect(back).toHaveLength(120);
    expect(back.map((p) => p.messageId)).toEqual(batches.flatMap((b) => b.points.map((p) => p.messageId)).sort((a, b) => (a < b ? -1 : 1)));
    await store.close();
  });

  it('pages correctly when pages end inside a millisecond or hold just one', async () => {
    const { store } = await openFresh(2); // the smallest page: every cut case happens
    const at = [0, 0, 0, 0, 0, 1, 2, 2, 2, 5, 5, 9];
    const points = at.map((t, i) =>
      i % 3 === 2 ? event(BigInt(1000 - i), T0 + t) : reading(BigInt(1000 - i), T0 + t, { participantId: i % 2 ? 'p-2' : 'p-1' }),
    );
    await store.write(batchOf(points));
    const order = (ps: readonly { deviceTime: number; messageId: bigint; seq: number }[]) =>
      [...ps].sort((a, b) => a.deviceTime - b.deviceTime || (a.messageId < b.messageId ? -1 : 1)).map((p) => p.messageId);
    const ids = async (q: Parameters<TelemetryStore['points']>[0]) => (await collect(store.points(q))).map((p) => p.messageId);
    expect(await ids({})).toEqual(order(points));
    expect(await ids({ order: 'desc' })).toEqual(order(points).reverse());
    expect(await ids({ limit: 3 })).toEqual(order(points).slice(0, 3));
    expect(await ids({ order: 'desc', limit: 4, kind: 'reading' })).toEqual(
      order(points.filter((p) => p.kind === 'reading'))
        .reverse()
        .slice(0, 4),
    );
    const release = {
      windows: [
        { participantId: 'p-1', from: T0, to: T0 + 3 },
        { participantId: 'p-2', from: T0 + 2, to: T0 + 10 },
      ],
      includeDeviceData: false,
    };
    const released = points.filter((p) => (p.participantId === 'p-1' && p.deviceTime < T0 + 3) || (p.participantId === 'p-2' && p.deviceTime >= T0 + 2));
    expect(await ids({ release })).toEqual(order(released));
    expect(await ids({ release, order: 'desc' })).toEqual(order(released).reverse());
    await store.close();
  });

  it('rewrites points into the same slots when a batch is redelivered after its markers were lost', async () => {
    const { store, db } = await openFresh();
    const batch = batchOf([reading(1n, T0), reading(1001n, T0), reading(1001n, T0, { seq: 1 }), event(2n, T0)], [rejection(3n, T0)]);
    await store.write(batch);
    // The crash window: data written, markers not.
    await server.query(`DELETE FROM "message"`, db);
    expect(await store.write(batch)).toEqual({ storedMessages: 4, duplicateMessages: 0 });
    expect(await collect(store.points({}))).toHaveLength(4);
    expect(await store.rejections({})).toHaveLength(1);
    expect(await store.write(batch)).toEqual({ storedMessages: 0, duplicateMessages: 4 });
    await store.close();
  });

  it('knows a rejected message redelivered later (new receive time) as a duplicate', async () => {
    const { store } = await openFresh();
    const first = rejection(5n, T0);
    expect(await store.write(batchOf([], [first]))).toEqual({ storedMessages: 1, duplicateMessages: 0 });
    const again = { ...first, receivedAt: T0 + 3_600_000 };
    expect(await store.write(batchOf([], [again]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
    expect(await store.rejections({})).toEqual([first]);
    await store.close();
  });

  it('keeps data and exactly-once across a new store instance on the same database', async () => {
    const { store, db } = await openFresh();
    const batch = batchOf([reading(1n, T0), event(2n, T0 + 1, { attributes: { zone: 'bath' } })], [rejection(3n, T0 + 2)]);
    await store.write(batch);
    await store.close();
    const again = await openInfluxTelemetryStore({ participantKey: PARTICIPANT_KEY, url: server.v2url, token: 't', org: 'arena', bucket: db, database: db });
    expect(await collect(again.points({}))).toEqual(batch.points);
    expect(await again.write(batch)).toEqual({ storedMessages: 0, duplicateMessages: 3 });
    await again.close();
  });

  it('writes exactly the schema the README and the dashboards rely on', async () => {
    const { store, db } = await openFresh();
    // Every tag and optional field is set on these fixtures, so SHOW lists them all.
    await store.write(
      batchOf(
        [
          reading(1n, T0, { profileVersion: '1.0.0', attributes: { source: 'manual' } }),
          event(2n, T0, { alertCode: '4.1', dispenseCode: '1.1', profileVersion: '1.0.0' }),
        ],
        [rejection(3n, T0, { siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1', participantId: 'p-1' })],
      ),
    );
    for (const [m, def] of Object.entries(SCHEMA)) {
      const fields = (await server.query(`SHOW FIELD KEYS FROM ${ident(m)}`, db)) as ShowResult;
      const tags = (await server.query(`SHOW TAG KEYS FROM ${ident(m)}`, db)) as ShowResult;
      expect(column(fields).sort(), `${m} fields`).toEqual([...def.fields].sort());
      expect(column(tags).sort(), `${m} tags`).toEqual([...def.tags].sort());
    }
    await store.close();
  });

  it('reports an unreachable server as STORE_UNAVAILABLE and recovers when it is back', async () => {
    const { store } = await openFresh();
    await server.kill();
    try {
      const failure = await store.write(batchOf([reading(1n, T0)])).catch((e: unknown) => e);
      expect(isHubError(failure) && failure.code).toBe('STORE_UNAVAILABLE');
      const readFailure = await collect(store.points({})).catch((e: unknown) => e);
      expect(isHubError(readFailure) && readFailure.code).toBe('STORE_UNAVAILABLE');
      await rejectsWith(store.ping(), 'STORE_UNAVAILABLE');
    } finally {
      await server.restart();
    }
    expect(await store.write(batchOf([reading(1n, T0)]))).toEqual({ storedMessages: 1, duplicateMessages: 0 });
    await store.ping();
    await store.close();
  });
});

describe('v2 write bridge', () => {
  it('wants a Token and passes /ping through', async () => {
    const res = await fetch(`${server.v2url}/api/v2/write?org=o&bucket=${server.database}&precision=ns`, { method: 'POST', body: 'm v=1' });
    expect(res.status).toBe(401);
    expect((await fetch(`${server.v2url}/ping`)).status).toBe(204);
  });
});

type ShowResult = { results: { series?: { values: string[][] }[] }[] };
const column = (r: ShowResult): string[] => (r.results[0]?.series?.[0]?.values ?? []).map((v) => v[0] ?? '');
