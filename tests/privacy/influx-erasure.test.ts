import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryStore } from '../../kernel/ports.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';

/**
 * Erasure on the InfluxDB adapter, searched for in influxd's own folder (stores/influx/README.md
 * "Erasure" says what a predicate DELETE leaves on disk, and this test holds it to that).
 */
const P = 'PSEUDO-P-4711x';
const Q = 'PSEUDO-Q-0815y';
const T0 = Date.parse('2025-03-01T08:00:00Z');
let server: RunningInfluxd;
let store: TelemetryStore;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const path = join(dir, n);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}
const holding = (needle: string | Buffer): string[] =>
  filesUnder(server.dir)
    .filter((f) => readFileSync(f).includes(typeof needle === 'string' ? Buffer.from(needle) : needle))
    .map((f) => relative(server.dir, f));
const double = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v); // InfluxDB's WAL and TSM encode floats big-endian
  return b;
};

beforeAll(async () => {
  assertInfluxdInstalled();
  server = await startInfluxd();
  store = await openInfluxTelemetryStore({ url: server.v2url, token: 't', org: 'arena', bucket: server.database, database: server.database });
  const place = { siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1' };
  await store.write(
    batchOf(
      [reading(1n, T0, { ...place, participantId: P, value: 73.9137 }), reading(2n, T0 + 1, { ...place, participantId: Q, value: 68.4421 })],
      [rejection(3n, T0 + 2, { ...place, participantId: P, payload: '{"v":91.7731}' })],
    ),
  );
  expect(holding(P).length).toBeGreaterThan(0);
  await store.eraseParticipant(P);
});
afterAll(async () => {
  await store?.close();
  await server?.stop();
});

describe('InfluxDB erasure', () => {
  it('answers no query with anything of P, and keeps Q', async () => {
    const points = [];
    for await (const p of store.points({})) points.push(p);
    expect(points.map((p) => p.participantId)).toEqual([Q]);
    const [r] = await store.rejections({});
    expect(r).toMatchObject({ participantId: null, payload: null, message: '' });
  });

  it("leaves P's bytes only where the README says: the WAL, TSM files under tombstones, the series index", async () => {
    // A restart turns the WAL into TSM files (a snapshot) and applies the tombstones.
    await server.restart();
    const found = [...holding(P), ...holding(double(73.9137)), ...holding('91.7731')];
    console.log(
      `[influx erasure] after a DELETE and a restart, P's id is in ${holding(P).join(', ') || 'no file'}; P's weight in ${holding(double(73.9137)).join(', ') || 'no file'}; P's rejected payload in ${holding('91.7731').join(', ') || 'no file'}`,
    );
    expect(found.filter((f) => !/(^wal\/|\.tsm$|\.tombstone$|_series\/|index\/|\.tsi$|\.tsl$|^meta\/)/.test(f))).toEqual([]);
  });
});
