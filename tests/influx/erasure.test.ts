import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHubError } from '../../kernel/errors.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Point, Reading } from '../../kernel/telemetry.js';
import { ident } from '../../stores/influx/influxql.js';
import { participantTags, TAG_PREFIX } from '../../stores/influx/participant-tag.js';
import { QueryClient } from '../../stores/influx/query-client.js';
import { TEMP_RP } from '../../stores/influx/shard-rebuild.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { batchOf, reading } from '../contract/telemetry-store.contract.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';

/**
 * The InfluxDB adapter's erasure beyond the contract: participant tags (never the id,
 * refused when the database holds other codings), and shard rebuilds that lose no write
 * of another process (the split layout: ingest writes while the api erases).
 */
const KEY = Buffer.alloc(32, 7);
const T = Date.parse('2025-06-03T10:00:00Z');

assertInfluxdInstalled();
let server: RunningInfluxd;
beforeAll(async () => {
  server = await startInfluxd();
});
afterAll(async () => {
  await server?.stop();
});

let databases = 0;
async function freshDb(): Promise<string> {
  const db = `e${++databases}`;
  await server.query(`CREATE DATABASE ${ident(db)}`);
  return db;
}
const open = (db: string, participantKey = KEY): Promise<TelemetryStore> =>
  openInfluxTelemetryStore({ participantKey, url: server.v2url, token: 't', org: 'arena', bucket: db, database: db, timeoutMs: 10_000 });
const all = async (s: TelemetryStore): Promise<Point[]> => {
  const out: Point[] = [];
  for await (const p of s.points({})) out.push(p);
  return out;
};
async function writeV1(db: string, line: string): Promise<void> {
  const res = await fetch(`${server.url}/write?db=${db}&precision=ms`, { method: 'POST', body: line });
  expect(res.status).toBe(204);
}
const rowsOf = (db: string, statements: string[]) => new QueryClient({ url: server.url, token: 't', database: db, timeoutMs: 10_000 }).run(statements);
const refusal = (e: unknown): string => (isHubError(e) && e.code === 'STORE_UNAVAILABLE' ? e.message : `unexpected: ${String(e)}`);

describe('participant tags', () => {
  it('are deterministic, decode back to the id, and are not ids', () => {
    const tags = participantTags(KEY);
    const tag = tags.encode('p-1');
    expect(tag.startsWith(TAG_PREFIX)).toBe(true);
    expect(tags.encode('p-1')).toBe(tag);
    expect(tags.encode('p-2')).not.toBe(tag);
    expect(tags.decode(tag)).toBe('p-1');
    expect(participantTags(Buffer.alloc(32, 8)).tryDecode(tag)).toBeUndefined();
    expect(tags.tryDecode('p-1')).toBeUndefined();
    expect(() => participantTags(Buffer.alloc(16))).toThrow(/32 bytes/);
  });

  it('refuses a database that holds plain participant ids, for writes and reads alike, before touching anything', async () => {
    const db = await freshDb();
    await writeV1(db, `reading,participant=p-1,device=d value=1,seq=0i,message_id="1" ${T}`);
    const store = await open(db);
    try {
      expect(await store.write(batchOf([reading(2n, T + 1)])).catch(refusal)).toMatch(/1 participant tag\(s\) this hub's key did not write \(1 plain/);
      expect(await all(store).catch(refusal)).toMatch(/did not write/);
      const [rows = []] = await rowsOf(db, ['SELECT count("seq") FROM "reading"']);
      expect(rows[0]?.count).toBe(1); // the refused batch wrote nothing
    } finally {
      await store.close();
    }
  });

  it('refuses a database written under another key, and works again under the key that wrote it', async () => {
    const db = await freshDb();
    const first = await open(db);
    await first.write(batchOf([reading(1n, T, { participantId: 'p-1' })]));
    await first.close();
    const other = await open(db, Buffer.alloc(32, 9));
    expect(await other.eraseParticipant('p-1').catch(refusal)).toMatch(/0 plain participant ids from before tags were encrypted, 1 under another key/);
    await other.close();
    const again = await open(db);
    expect((await all(again)).map((p) => p.participantId)).toEqual(['p-1']);
    await again.close();
  });
});

describe('erasure by shard rebuild', () => {
  it("loses no write that another store instance makes while the shards are rebuilt, and keeps the others' values", async () => {
    const db = await freshDb();
    const writer = await open(db); // ingest
    const eraser = await open(db); // api
    try {
      // P and Q in one shard; enough of Q that the rebuild takes a while.
      const N = 3000;
      const qs = Array.from({ length: N }, (_, i) => reading(BigInt(1_000 + i), T + i * 10, { participantId: 'q', deviceId: 'dev-q', value: i + 0.25 }));
      for (let i = 0; i < N; i += 1000) await writer.write(batchOf(qs.slice(i, i + 1000)));
      await writer.write(batchOf([0, 1, 2].map((i) => reading(BigInt(10 + i), T + 5 + i * 10, { participantId: 'p', deviceId: 'dev-p', value: 91.5 + i }))));
      const before = await all(eraser);

      // The writer keeps writing new messages into the same shard until the erasure is over.
      let erasing = true;
      const written: Reading[] = [];
      const writing = (async () => {
        for (let k = 0; erasing || k < 2; k++) {
          const batch = Array.from({ length: 50 }, (_, i) =>
            reading(BigInt(100_000 + k * 50 + i), T + 7 + (k * 50 + i) * 10, { participantId: 'q', deviceId: 'dev-w', value: k + i / 100 }),
          );
          await writer.write(batchOf(batch));
          written.push(...batch);
        }
      })();
      const started = performance.now();
      expect(await eraser.eraseParticipant('p')).toBe(3);
      const ms = performance.now() - started;
      erasing = false;
      await writing;

      const after = await all(eraser);
      expect(after.filter((p) => p.participantId === 'p')).toEqual([]);
      // Q's points from before, field for field, and every batch the writer was told was stored.
      expect(after.filter((p) => p.deviceId === 'dev-q')).toEqual(before.filter((p) => p.participantId === 'q'));
      const got = new Map(after.flatMap((p) => (p.kind === 'reading' && p.deviceId === 'dev-w' ? [[p.messageId, p.value] as const] : [])));
      expect(written.filter((p) => got.get(p.messageId) !== p.value)).toEqual([]);
      console.log(`[influx erasure] rebuilt a shard of ${N + 3} points in ${Math.round(ms)} ms while another store wrote ${written.length} points`);
      const [rps = []] = await rowsOf(db, [`SHOW RETENTION POLICIES ON ${ident(db)}`]);
      expect(rps.map((r) => r.name)).toEqual(['autogen']);
    } finally {
      await writer.close();
      await eraser.close();
    }
  });

  it('drops nothing when the eraser cannot hold its lease, and erases on the next try', async () => {
    const db = await freshDb();
    const points = [reading(1n, T, { participantId: 'q', value: 1.5 }), reading(2n, T + 1, { participantId: 'p', value: 2.5 })];
    const writer = await open(db);
    await writer.write(batchOf(points));
    // A lease of 1 ms has run out before the shard could be dropped: as a renewal that came too late.
    const hasty = await openInfluxTelemetryStore({
      participantKey: KEY,
      url: server.v2url,
      token: 't',
      org: 'arena',
      bucket: db,
      database: db,
      rebuildLeaseMs: 1,
    });
    try {
      expect(await hasty.eraseParticipant('p').catch(refusal)).toMatch(/lost its lease .*nothing was dropped/);
      expect(await all(writer)).toEqual(points);
      expect(await writer.eraseParticipant('p')).toBe(1);
      expect(await all(writer)).toEqual([points[0]]);
    } finally {
      await hasty.close();
      await writer.close();
    }
  });

  it('writes back, before anything else, the copy a rebuild cut short left behind', async () => {
    const db = await freshDb();
    const store = await open(db);
    try {
      await store.write(batchOf([reading(1n, T, { participantId: 'q', value: 1.5 }), reading(2n, T + 1, { participantId: 'p', value: 2.5 })]));
      // As a crash after DROP SHARD leaves it: the shard's other points only in the temporary copy.
      await server.query(`CREATE RETENTION POLICY ${ident(TEMP_RP)} ON ${ident(db)} DURATION INF REPLICATION 1`);
      await server.query(
        `SELECT * INTO ${ident(db)}.${ident(TEMP_RP)}.:MEASUREMENT FROM ${ident(db)}."autogen"./.*/ WHERE "participant" != '${participantTags(KEY).encode('p')}' GROUP BY *`,
        db,
      );
      const [shards = []] = await rowsOf(db, ['SHOW SHARDS']);
      for (const shard of shards.filter((r) => r.database === db && r.retention_policy === 'autogen')) await server.query(`DROP SHARD ${String(shard.id)}`);
      expect(await all(store)).toEqual([]);
      await store.eraseParticipant('nobody');
      expect((await all(store)).map((p) => [p.participantId, p.kind === 'reading' ? p.value : null])).toEqual([['q', 1.5]]);
    } finally {
      await store.close();
    }
  });
});
