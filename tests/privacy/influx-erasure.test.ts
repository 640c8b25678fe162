import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { IngestBatch, Point } from '../../kernel/telemetry.js';
import { createLogger } from '../../kernel/log.js';
import type { GrafanaMirror } from '../../kernel/ports.js';
import { openGrafanaMirror } from '../../stores/influx/grafana-mirror.js';
import { participantTags } from '../../stores/influx/participant-tag.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { batchOf, event, reading, rejection } from '../contract/telemetry-store.contract.js';
import { allPoints, influxDouble, influxFilesHolding } from './influx-files.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';

/**
 * Erasure on the InfluxDB adapter, searched for byte by byte in influxd's own folder (data,
 * WAL and meta): after eraseParticipant(P) no file holds P's id, P's readings (the floats'
 * bytes), P's event attributes or P's rejected payload, and Q's data reads back as before.
 */
const PARTICIPANT_KEY = Buffer.alloc(32, 7);
const P = 'PSEUDO-P-4711x';
const Q = 'PSEUDO-Q-0815y';
const P_VALUES = [73.9137, 74.0263, 72.8819];
const P_SECRET = 'zeta-secret-6173';
const P_ZONE = 'bathroom-7ff3';
const Q_SECRET = 'omega-secret-2291';
const WEEK = 7 * 86_400_000;
// Two shard groups (InfluxDB 1.x: 7 days for an infinite retention policy), both holding P and Q.
const T0 = Date.parse('2025-03-04T08:00:00Z');
const TIMES = [T0, T0 + 1, T0 + WEEK];
const place = { siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1' };

let server: RunningInfluxd;
let store: TelemetryStore;
let grafana: GrafanaMirror;
let qBefore: Point[];

const holding = (needle: string | Buffer): string[] => influxFilesHolding(server.dir, ['data', 'wal', 'meta'], needle);
const traces = (): Record<string, string[]> => ({
  id: holding(P),
  ...Object.fromEntries(P_VALUES.map((v) => [String(v), holding(influxDouble(v))])),
  zone: holding(P_ZONE),
  payload: holding(P_SECRET),
});

async function shardIds(): Promise<number[]> {
  const answer = (await server.query('SHOW SHARDS')) as { results: { series?: { values: unknown[][] }[] }[] };
  return (answer.results[0]?.series ?? []).flatMap((s) => s.values.map((v) => Number(v[0])));
}

function dataOf(participantId: string, firstId: bigint, values: readonly number[], secret: string, zone: string): IngestBatch {
  const deviceId = `dev-${participantId.slice(7, 8).toLowerCase()}`;
  const o = { ...place, participantId, deviceId };
  return batchOf(
    [
      ...values.map((value, i) => reading(firstId + BigInt(i), TIMES[i]!, { ...o, name: 'body_weight', unit: 'kg', value })),
      event(firstId + 10n, T0 + 2, { ...o, attributes: { zone } }),
    ],
    [rejection(firstId + 20n, T0 + 3, { ...o, payload: `{"note":"${secret}","v":"x"}`, message: `expected a number, got "${secret}"` })],
  );
}

beforeAll(async () => {
  assertInfluxdInstalled();
  server = await startInfluxd();
  store = await openInfluxTelemetryStore({
    participantKey: PARTICIPANT_KEY,
    url: server.v2url,
    token: 't',
    org: 'arena',
    bucket: server.database,
    database: server.database,
  });
  // Grafana's bucket on the same server, where every participant holds care.live.
  await server.query('CREATE DATABASE "grafana"');
  grafana = openGrafanaMirror({
    participantKey: PARTICIPANT_KEY,
    url: server.v2url,
    token: 't',
    org: 'arena',
    bucket: 'grafana',
    database: 'grafana',
    consent: { allows: async () => true, windows: async () => [] },
    source: store,
    logger: createLogger('silent'),
  });
  for (const batch of [dataOf(P, 100n, P_VALUES, P_SECRET, P_ZONE), dataOf(Q, 200n, [68.4421, 68.5107, 68.3399], Q_SECRET, 'kitchen')]) {
    await store.write(batch);
    await grafana.copy(batch.points.map((p) => ({ messageId: p.messageId, points: [p] })));
  }
  qBefore = (await allPoints(store)).filter((p) => p.participantId === Q);
});
afterAll(async () => {
  await grafana?.close();
  await store?.close();
  await server?.stop();
});

describe('InfluxDB erasure', () => {
  it("never writes a participant's id: the tag InfluxDB holds is its encryption", () => {
    const { id, ...values } = traces();
    expect(id).toEqual([]);
    expect(holding(participantTags(PARTICIPANT_KEY).encode(P)).length).toBeGreaterThan(0);
    // The probes find P's values before the erasure (so their absence after it means something).
    expect(Object.entries(values).filter(([, files]) => files.length === 0)).toEqual([]);
  });

  it("leaves no byte of P's id or values in any file of influxd's folder, before and after a restart", async () => {
    const before = await shardIds();
    expect(before).toHaveLength(4); // two shard groups, in the store's database and in Grafana's
    expect(await store.eraseParticipant(P)).toBe(4);
    await grafana.forget(P); // as api/erasure.ts does after the store
    // Both shard groups held P: both were rebuilt (dropped, their survivors written into new shards).
    expect((await shardIds()).filter((id) => before.includes(id))).toEqual([]);
    const none = Object.fromEntries(Object.keys(traces()).map((k) => [k, []]));
    expect(traces()).toEqual(none);
    await server.restart();
    expect(traces()).toEqual(none);
    // What stays is P's tag in the series file (data/<db>/_series, which no API call
    // rewrites): the id encrypted under a key InfluxDB never holds (participant-tag.ts).
    const tag = holding(participantTags(PARTICIPANT_KEY).encode(P));
    expect(tag.every((f) => f.includes('/_series/'))).toBe(true);
    console.log(`[influx erasure] after erasing P, P's tag is in ${tag.join(', ')}`);
  });

  it("keeps Q's points, every field as it was, and P's rejection counted without P", async () => {
    expect(await allPoints(store)).toEqual(qBefore);
    const rejections = await store.rejections({});
    expect(rejections.map((r) => [r.participantId, r.payload?.includes(Q_SECRET) ?? null])).toEqual([
      [Q, true],
      [null, null],
    ]);
    expect(rejections[1]).toMatchObject({ participantId: null, payload: null, message: '' });
    expect((await store.rejectionCounts({})).reduce((n, c) => n + c.count, 0)).toBe(2);
  });
});
