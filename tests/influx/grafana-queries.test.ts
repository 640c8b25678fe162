import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Family, HubEvent, Point, Reading, Severity } from '../../kernel/telemetry.js';
import { dashboardQueries, readDashboards } from '../../grafana/schema.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { T0, batchOf, event, reading, rejection } from '../contract/telemetry-store.contract.js';
import { assertInfluxdInstalled, influxQuery, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';

const PARTICIPANT_KEY = Buffer.alloc(32, 7);

/**
 * Runs every dashboard query, as Grafana would expand it, against a real InfluxDB holding
 * data written by the adapter: each must parse and return data. tests/deploy/grafana.test.ts
 * checks the names statically; this checks that the InfluxQL works.
 */
assertInfluxdInstalled();

let server: RunningInfluxd;
beforeAll(async () => {
  server = await startInfluxd('grafana');
  const store = await openInfluxTelemetryStore({
    participantKey: PARTICIPANT_KEY,
    url: server.v2url,
    token: 't',
    org: 'arena',
    bucket: 'grafana',
    database: 'grafana',
  });
  await store.write(batchOf(sampleDay(), [rejection(900n, T0 + 5_000, { code: 'UNIT_UNKNOWN' })]));
  await store.close();
});
afterAll(async () => {
  await server?.stop();
});

/** One day of what the profiles produce, for two participants in two rooms. */
function sampleDay(): Point[] {
  let id = 0n;
  const at = (h: number) => T0 + h * 3_600_000;
  const r = (family: Family, name: string, h: number, value: number, o: Partial<Reading> = {}) =>
    reading(++id, at(h), { family, name, value, unit: '1', participantId: 'p-1', roomId: 'room-1', ...o });
  const e = (family: Family, name: string, h: number, severity: Severity, o: Partial<HubEvent> = {}) =>
    event(++id, at(h), { family, name, severity, participantId: 'p-1', roomId: 'room-1', attributes: { zone: 'bed' }, ...o });
  return [
    r('fluid-balance', 'fluid_intake', 1, 250),
    r('fluid-balance', 'fluid_intake', 5, 300),
    r('fluid-balance', 'fluid_output', 6, 400),
    r('fluid-balance', 'body_weight', 7, 71.5),
    r('fluid-balance', 'battery_level', 7, 80, { deviceId: 'scale-1' }),
    r('fall-sensor', 'bed_occupied', 2, 1),
    r('fall-sensor', 'respiratory_rate', 2, 14),
    r('fall-sensor', 'mains_power', 2, 1),
    r('fall-sensor', 'device_temperature', 2, 31),
    r('medication-dispenser', 'doses_left', 3, 12, { deviceId: 'dispenser-1' }),
    e('fall-sensor', 'fall', 3, 40, { alertCode: '4.1' }),
    e('fall-sensor', 'left_bed', 4, 20, { roomId: 'room-2', participantId: 'p-2' }),
    e('fall-sensor', 'sensor_blocked', 4, 20),
    e('medication-dispenser', 'dose_ready', 8, 10),
    e('medication-dispenser', 'dose_taken', 8, 10),
    e('medication-dispenser', 'dose_missed', 12, 30, { alertCode: '1.1' }),
    e('medication-dispenser', 'jam', 13, 30),
    e('medication-dispenser', 'mains_lost', 14, 20),
  ];
}

/** What Grafana substitutes: the dashboard's range, an interval, and "All" (.*) for variables. */
function expand(query: string): string {
  return query
    .replaceAll('$timeFilter', `time >= ${T0 - 86_400_000}ms AND time <= ${T0 + 2 * 86_400_000}ms`)
    .replaceAll('$__interval', '1h')
    .replaceAll('$target_kg', '70')
    .replace(/\$(site|room|participant)\b/g, '.*');
}

describe('dashboard queries on a real InfluxDB', () => {
  const queries = readDashboards(join('grafana', 'dashboards')).flatMap(({ file, dashboard }) => dashboardQueries(dashboard).map((q) => ({ ...q, file })));

  it.each(queries)('$file $where', async ({ query }) => {
    const result = (await influxQuery(server.url, expand(query), 'grafana')) as { results: { series?: unknown[] }[] };
    expect(result.results[0]?.series?.length ?? 0).toBeGreaterThan(0);
  });
});
