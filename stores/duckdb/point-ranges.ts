import { VARCHAR, type DuckDBConnection, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import type { Point } from '../../kernel/telemetry.js';

/**
 * `point_ranges`: per device, kind and name, the earliest and latest device time stored
 * and how many points (a density, for the first window's width).
 * One row per series (devices times measurements: thousands, not millions), kept in the
 * write's own transaction, so it is never behind `points`. A newest-first read with a
 * limit (a device's latest readings, the ward board) asks it where the series ends and
 * reads `points` backwards from there in growing time windows: DuckDB's per-row-group
 * min/max of device_time skips the rest, so the read costs what the window holds, not
 * what the history holds (README.md in this folder, "Latest values").
 *
 * Its key is an ART index held in memory, which is why it is bounded by the series, never
 * by the points.
 */
export const POINT_RANGES_DDL = `CREATE TABLE IF NOT EXISTS point_ranges (
  device_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL,
  first_time BIGINT NOT NULL, last_time BIGINT NOT NULL, points BIGINT NOT NULL,
  PRIMARY KEY (device_id, kind, name))`;

/** Connection-local: one batch's ranges, made anew by each write (STAGING in schema.ts says why). */
const STAGED_RANGES_DDL = `CREATE OR REPLACE TEMP TABLE staged_ranges (
  device_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, name VARCHAR NOT NULL,
  first_time BIGINT NOT NULL, last_time BIGINT NOT NULL, points BIGINT NOT NULL)`;

/** Recomputed from `points`: once for a file made before the table, and after a delete (erasure, retention). */
const REBUILD = [
  'DELETE FROM point_ranges',
  `INSERT INTO point_ranges SELECT device_id, kind, name, min(device_time), max(device_time), count(*)
     FROM points GROUP BY device_id, kind, name`,
];

export async function hasPointRanges(c: DuckDBConnection): Promise<boolean> {
  const r = await c.runAndReadAll(`SELECT count(*) FROM duckdb_tables() WHERE table_name = 'point_ranges' AND NOT temporary`);
  return Number(r.getRows()[0]?.[0]) > 0;
}

/** Inside the caller's transaction. */
export async function rebuildPointRanges(c: DuckDBConnection): Promise<void> {
  for (const sql of REBUILD) await c.run(sql);
}

/** Widens the ranges by the points just appended, inside the write's transaction. */
export async function recordPointRanges(c: DuckDBConnection, points: readonly Point[]): Promise<void> {
  if (points.length === 0) return;
  const ranges = new Map<string, { deviceId: string; kind: string; name: string; first: number; last: number; points: number }>();
  for (const p of points) {
    const key = JSON.stringify([p.deviceId, p.kind, p.name]);
    const r = ranges.get(key);
    if (r) {
      r.first = Math.min(r.first, p.deviceTime);
      r.last = Math.max(r.last, p.deviceTime);
      r.points += 1;
    } else ranges.set(key, { deviceId: p.deviceId, kind: p.kind, name: p.name, first: p.deviceTime, last: p.deviceTime, points: 1 });
  }
  await c.run(STAGED_RANGES_DDL);
  const a = await c.createAppender('staged_ranges');
  try {
    for (const r of ranges.values()) {
      a.appendVarchar(r.deviceId);
      a.appendVarchar(r.kind);
      a.appendVarchar(r.name);
      a.appendBigInt(BigInt(r.first));
      a.appendBigInt(BigInt(r.last));
      a.appendBigInt(BigInt(r.points));
      a.endRow();
    }
    a.flushSync();
  } catch (e) {
    a.clear();
    throw e;
  } finally {
    a.closeSync();
  }
  await c.run(`INSERT INTO point_ranges SELECT * FROM staged_ranges ON CONFLICT DO UPDATE
    SET first_time = least(first_time, excluded.first_time), last_time = greatest(last_time, excluded.last_time),
      points = points + excluded.points`);
}

export interface SeriesFilter {
  readonly deviceIds?: readonly string[];
  readonly kind?: string;
  readonly names?: readonly string[];
}

export interface Span {
  readonly first: number;
  readonly last: number;
  readonly points: number;
}

/** [earliest, latest] device time and point count of the series the filter matches; null when none is stored. */
export async function spanOf(c: DuckDBConnection, f: SeriesFilter): Promise<Span | null> {
  const values: DuckDBValue[] = [];
  const types: DuckDBType[] = [];
  const bind = (v: string): string => {
    values.push(v);
    types.push(VARCHAR);
    return `$${values.length}`;
  };
  const where = ['TRUE'];
  const inList = (column: string, list: readonly string[]): string => (list.length === 0 ? 'FALSE' : `${column} IN (${list.map(bind).join(', ')})`);
  if (f.deviceIds) where.push(inList('device_id', f.deviceIds));
  if (f.names) where.push(inList('name', f.names));
  if (f.kind !== undefined) where.push(`kind = ${bind(f.kind)}`);
  const r = await c.runAndReadAll(`SELECT min(first_time), max(last_time), sum(points) FROM point_ranges WHERE ${where.join(' AND ')}`, values, types);
  const [first, last, points] = r.getRows()[0] ?? [];
  if (first === null || first === undefined || last === null || last === undefined) return null;
  return { first: Number(first), last: Number(last), points: Number(points) };
}

/** Each window after the first is this many times longer than the one before. */
const WINDOW_GROWTH = 8;
/** The first window is at least a minute, and this many times what the series' average density says `limit` points need. */
const MIN_FIRST_WINDOW_MS = 60_000;
const FIRST_WINDOW_MARGIN = 2;

/**
 * Device-time windows [from, to), newest first, that together cover [first, last] cut to
 * the query's own [from, to). The first is sized by the series' average density to hold
 * the limit twice over, so a steady series is answered in one query; a reader stops
 * asking once it has its limit.
 */
export function* windowsBackFrom(span: Span, limit: number, from: number | undefined, to: number | undefined): Generator<[number, number]> {
  const floor = Math.max(span.first, from ?? -Infinity);
  let end = Math.min(span.last + 1, to ?? Infinity);
  const msPerPoint = (span.last - span.first + 1) / Math.max(1, span.points);
  let width = Math.max(MIN_FIRST_WINDOW_MS, Math.ceil(limit * msPerPoint * FIRST_WINDOW_MARGIN));
  while (end > floor) {
    const start = Math.max(floor, end - width);
    yield [start, end];
    end = start;
    width *= WINDOW_GROWTH;
  }
}
