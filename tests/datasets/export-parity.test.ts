import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALARM_SOURCE_ID } from '../../kernel/alarms.js';
import { columnsFor, type DatasetAudience } from '../../datasets/columns.js';
import { writeExport, type DatasetSource, type DatasetSpec, type WrittenExport } from '../../datasets/export.js';
import { DATASET_FORMATS, type DatasetFormat } from '../../datasets/formats.js';
import type { ReleaseWindow } from '../../kernel/ports.js';
import { pseudonymiser } from '../../kernel/pseudonym.js';
import type { HubEvent, IngestBatch, Point, Reading } from '../../kernel/telemetry.js';
import type { Period } from '../../kernel/trials.js';
import { duckDbDatasetExporter } from '../../stores/duckdb/export.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { parseParquet } from '../helpers/datasets.js';
import { rejectsWith } from '../helpers/errors.js';

/**
 * The SQL export (stores/duckdb/export.ts, COPY inside DuckDB) against the JS stream
 * (store.points() → datasets/formats.ts) on the same seeded file: the same bytes for CSV
 * and NDJSON, the same schema and decoded rows for Parquet, the same row counts.
 *
 * The file is written and exported through the JS path with the store open, then the
 * store is closed and the same file exported again by the DuckDB exporter on an instance
 * of its own (one instance per file), set to a non-UTC time zone on purpose.
 */

const T0 = Date.parse('2025-03-01T08:00:00Z');
const MIN = 60_000;
const KEY = Buffer.alloc(32, 9);
const pseudonym = pseudonymiser(KEY);

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Values whose text differs between engines unless rendered with care. */
const VALUES = [
  72.45,
  0,
  -0,
  1,
  -1.5,
  100,
  1e21,
  1.5e21,
  1e20,
  1e-7,
  1.23e-5,
  0.000123,
  0.001,
  123456789.123,
  2 ** 53 + 2,
  1e16 + 2,
  1 / 3,
  0.1 + 0.2,
  5e-324,
  1.7976931348623157e308,
  -2.5e-8,
  NaN,
  Infinity,
  -Infinity,
];
/** Strings that need quoting in CSV or escaping in JSON, or look like escapes already. */
const TEXTS = [
  'plain',
  'a,b',
  'say "hi"',
  'line\nbreak',
  'cr\rlf\r\n',
  'back\\slash',
  'Ø æ 😀 \u2028',
  'ctl\u0001\u000b\u001f\u007f\t\b\f\u0000',
  'lit \\u001A',
  '',
];
const ATTRIBUTES: HubEvent['attributes'][] = [
  {},
  { label: 'x' },
  { zone: 'bed', n: 3, ok: true, f: 0.1 },
  { 'q"uote': 'a,b\nc\r\\d' },
  { ctl: '\u0001\u000b\u001f', big: 1e21, tiny: 1e-7 },
  { uni: 'Ø æ 😀 \u2028' },
  { '2': 'integer keys come first', b: 1 },
  { lit: '\\u001A' },
];

const pick = <T>(rand: () => number, list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;

const TRIAL = 'T1';
const PARTICIPANTS = ['p-full', 'p-cut', 'p-two', 'p-withdrawn'] as const;
const BASELINE: Period = { from: T0 + 100 * MIN, to: T0 + 200 * MIN };

/** Points of varied shape: ties in device time (then message id, beyond 2^63 too, then seq), nulls, odd text. */
function variedPoints(count: number): IngestBatch & { readonly points: readonly Point[] } {
  const rand = random(42);
  const points: Point[] = [];
  const messages: IngestBatch['messages'][number][] = [];
  const seen = new Set<bigint>();
  while (points.length < count) {
    const id = BigInt(Math.floor(rand() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(rand() * 2 ** 32));
    if (seen.has(id)) continue;
    seen.add(id);
    // hub-alarms: the hub's alarm events, whose attributes.alarmId each audience sees as its own reference.
    const deviceId = pick(rand, ['D1', 'D2', 'D,3', ALARM_SOURCE_ID]);
    const receivedAt = T0 + Math.floor(rand() * 300) * MIN;
    messages.push({ id, deviceId, receivedAt });
    const other = rand() < 0.1;
    const participantId = rand() < 0.15 ? null : pick(rand, PARTICIPANTS);
    for (let seq = 0, n = 1 + Math.floor(rand() * 3); seq < n; seq++) {
      const base = {
        messageId: id,
        seq,
        deviceId,
        siteId: 'S',
        roomId: pick(rand, ['R1', null, 'R,"2"', 'R\n3']),
        trialId: other ? 'T2' : TRIAL,
        participantId,
        // Few distinct times, so ties are common and the order falls to message id and seq.
        deviceTime: T0 + Math.floor(rand() * 60) * 5 * MIN,
        receivedAt,
        clockSkewed: rand() < 0.2,
      };
      if (rand() < 0.5) {
        const reading: Reading = {
          ...base,
          kind: 'reading',
          profileId: 'aquascale',
          family: 'fluid-balance',
          name: pick(rand, ['body_weight', 'fluid intake', 'x,y', 'ctl\u0007name']),
          value: pick(rand, VALUES),
          unit: pick(rand, ['kg', 'mL', 'a"b']),
        };
        points.push(reading);
      } else {
        const event: HubEvent = {
          ...base,
          kind: 'event',
          profileId: 'bedwatch-senml',
          family: 'fall-sensor',
          name: pick(rand, ['left_bed', 'fall']),
          alertCode: pick(rand, [null, '4.1', '4,2']),
          dispenseCode: pick(rand, [null, '1.1', pick(rand, TEXTS)]),
          severity: pick(rand, [0, 10, 20, 30, 40] as const),
          attributes:
            deviceId === ALARM_SOURCE_ID
              ? { alarmId: `alm-${Math.floor(rand() * 20)}`, rule: 'fall', triggerCount: 2 }
              : rand() < 0.2
                ? { text: pick(rand, TEXTS) }
                : pick(rand, ATTRIBUTES),
        };
        points.push(event);
      }
    }
  }
  return { messages, points, rejections: [] };
}

/** Many plain readings in one trial: more than a DuckDB row group, so the engine works in parallel. */
function manyReadings(count: number): IngestBatch[] {
  const rand = random(7);
  const batches: { messages: IngestBatch['messages'][number][]; points: Point[]; rejections: [] }[] = [];
  for (let m = 0; m * 100 < count; m++) {
    const id = 10n ** 18n + BigInt(m);
    const at = T0 + Math.floor(rand() * 10_000) * 1000;
    if (batches.length === 0 || batches[batches.length - 1]!.points.length >= 10_000) batches.push({ messages: [], points: [], rejections: [] });
    const b = batches[batches.length - 1]!;
    b.messages.push({ id, deviceId: 'BIG', receivedAt: at });
    for (let seq = 0; seq < 100 && m * 100 + seq < count; seq++) {
      b.points.push({
        kind: 'reading',
        messageId: id,
        seq,
        deviceId: 'BIG',
        profileId: 'aquascale',
        family: 'fluid-balance',
        siteId: 'S',
        roomId: 'R1',
        trialId: 'BIG',
        participantId: seq % 10 === 0 ? null : `big-${seq % 7}`,
        name: 'body_weight',
        value: Math.round(rand() * 100_000) / 100,
        unit: 'kg',
        deviceTime: at - (seq % 5) * 1000,
        receivedAt: at,
        clockSkewed: false,
      });
    }
  }
  return batches;
}

interface Case {
  readonly name: string;
  readonly audience: DatasetAudience;
  readonly query: DatasetSpec['query'];
  readonly baseline: Period | null;
  readonly interventionFrom?: number;
  readonly formats: readonly DatasetFormat[];
}

const window = (participantId: string, from: number, to: number): ReleaseWindow => ({ participantId, from, to });
/** p-cut is released only in the middle of its data; p-two in two overlapping windows; p-withdrawn in none. */
const WINDOWS: ReleaseWindow[] = [
  window('p-full', T0 - 60 * MIN, T0 + 400 * MIN),
  window('p-cut', T0 + 90 * MIN + 0.5, T0 + 210 * MIN),
  window('p-two', T0, T0 + 150 * MIN),
  window('p-two', T0 + 100 * MIN, T0 + 250 * MIN),
];

const CASES: Case[] = [
  {
    name: 'research, every column, with device data',
    audience: 'research',
    query: { trialId: TRIAL, from: T0 - 60 * MIN, to: T0 + 400 * MIN, release: { windows: WINDOWS, includeDeviceData: true } },
    baseline: BASELINE,
    formats: DATASET_FORMATS,
  },
  {
    name: 'research without a baseline or device data',
    audience: 'research',
    query: { trialId: TRIAL, release: { windows: WINDOWS, includeDeviceData: false } },
    baseline: null,
    formats: DATASET_FORMATS,
  },
  {
    name: 'vendor, its own devices',
    audience: 'vendor.telemetry',
    query: { trialId: TRIAL, deviceIds: ['D1', 'D,3'], release: { windows: WINDOWS, includeDeviceData: true } },
    baseline: BASELINE,
    formats: DATASET_FORMATS,
  },
  {
    name: 'research, filtered by family, kind, name and time',
    audience: 'research',
    query: {
      trialId: TRIAL,
      family: 'fluid-balance',
      kind: 'reading',
      names: ['body_weight', 'x,y'],
      from: T0 + 50 * MIN + 0.25,
      to: T0 + 230 * MIN,
      release: { windows: WINDOWS, includeDeviceData: true },
    },
    baseline: BASELINE,
    formats: DATASET_FORMATS,
  },
  {
    name: 'research, the intervention recorded as starting after a gap',
    audience: 'research',
    query: { trialId: TRIAL, release: { windows: WINDOWS, includeDeviceData: true } },
    baseline: BASELINE,
    interventionFrom: BASELINE.to + 30 * MIN + 0.5,
    formats: ['csv', 'parquet'],
  },
  {
    name: 'research, an intervention start and no baseline',
    audience: 'research',
    query: { trialId: TRIAL, release: { windows: WINDOWS, includeDeviceData: false } },
    baseline: null,
    interventionFrom: T0 + 120 * MIN,
    formats: ['csv'],
  },
  {
    name: 'nobody released',
    audience: 'research',
    query: { trialId: TRIAL, release: { windows: [], includeDeviceData: false } },
    baseline: BASELINE,
    formats: DATASET_FORMATS,
  },
  {
    name: 'an empty device list',
    audience: 'vendor.telemetry',
    query: { trialId: TRIAL, deviceIds: [], release: { windows: WINDOWS, includeDeviceData: true } },
    baseline: null,
    formats: ['csv', 'ndjson'],
  },
  {
    name: 'a large trial',
    audience: 'research',
    query: {
      trialId: 'BIG',
      release: { windows: Array.from({ length: 7 }, (_, i) => window(`big-${i}`, T0 + i * 600_000, T0 + 10_000_000 - i * 300_000)), includeDeviceData: true },
    },
    baseline: { from: T0 + 3_000_000, to: T0 + 6_000_000 },
    formats: ['csv', 'parquet'],
  },
];

const specOf = (c: Case): DatasetSpec => {
  const audience = c.audience;
  return {
    query: c.query,
    columns: columnsFor(audience),
    ctx: {
      audience,
      trial: { baseline: c.baseline, interventionFrom: c.interventionFrom ?? null },
      pseudonym: (id) => pseudonym(TRIAL, audience, id),
      alarmRef: (id) => pseudonym(TRIAL, audience, `alarm:${id}`),
    },
  };
};

const BIG_ROWS = 130_000;
let dir: string;
const viaJs = new Map<string, WrittenExport>();
const viaSql = new Map<string, WrittenExport>();
let seeded: readonly Point[] = [];

/** A fresh folder per export, as the route makes one. */
const folder = (name: string): string => {
  const d = join(dir, name.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(d);
  return d;
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'export-parity-'));
  const path = join(dir, 'telemetry.duckdb');
  const store = await openDuckDbTelemetryStore({ path });
  try {
    const varied = variedPoints(3000);
    seeded = varied.points;
    await store.write(varied);
    for (const b of manyReadings(BIG_ROWS)) await store.write(b);
    // The stream alone, even when the store could export by itself.
    const streamOnly: DatasetSource = { points: (q) => store.points(q) };
    for (const c of CASES) for (const f of c.formats) viaJs.set(`${c.name}/${f}`, await writeExport(streamOnly, specOf(c), f, folder(`js ${c.name} ${f}`)));
  } finally {
    await store.close();
  }
  const instance = await DuckDBInstance.create(path);
  try {
    const setup = await instance.connect();
    // Exports must not depend on the session time zone.
    await setup.run("SET GLOBAL TimeZone = 'Asia/Kolkata'");
    setup.closeSync();
    const exporter = duckDbDatasetExporter(instance);
    const sqlOnly: DatasetSource = {
      points: () => {
        throw new Error('the SQL path must not stream points');
      },
      exportTo: (request, file) => exporter.exportTo(request, file),
    };
    for (const c of CASES) for (const f of c.formats) viaSql.set(`${c.name}/${f}`, await writeExport(sqlOnly, specOf(c), f, folder(`sql ${c.name} ${f}`)));
  } finally {
    instance.closeSync();
  }
  // Seeding and two exports of every case: about a minute idle, over two under load. A
  // bound on a failing run, not a performance figure (that is the bench's export section).
}, 300_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The first line where two texts differ, or null; a diff of two large files would take vitest minutes. */
function firstDifference(js: string, sql: string): { line: number; js: string | undefined; sql: string | undefined } | null {
  if (js === sql) return null;
  const [a, b] = [js.split('\n'), sql.split('\n')];
  const line = a.findIndex((l, i) => l !== b[i]);
  const at = line < 0 ? a.length : line;
  return { line: at + 1, js: a[at], sql: b[at] };
}

/**
 * Decoded with DuckDB's read_parquet and compared row by row in file order, as text
 * (so -0 and 0 differ): columns whose name or type differ, and rows that differ.
 */
async function parquetDifferences(a: string, b: string): Promise<{ types: number; rows: number }> {
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const c = await instance.connect();
    const read = (f: string) => `read_parquet('${f.replaceAll("'", "''")}', file_row_number = true)`;
    const types = await c.runAndReadAll(
      `SELECT count(*) FROM (DESCRIBE SELECT * FROM ${read(a)}) x FULL JOIN (DESCRIBE SELECT * FROM ${read(b)}) y USING (column_name)
       WHERE x.column_type IS DISTINCT FROM y.column_type`,
    );
    const rows = await c.runAndReadAll(
      `SELECT count(*) FROM ${read(a)} x FULL JOIN ${read(b)} y USING (file_row_number)
       WHERE CAST(x AS VARCHAR) IS DISTINCT FROM CAST(y AS VARCHAR)`,
    );
    c.closeSync();
    return { types: Number(types.getRows()[0]?.[0]), rows: Number(rows.getRows()[0]?.[0]) };
  } finally {
    instance.closeSync();
  }
}

describe('the SQL export and the JS stream', () => {
  for (const c of CASES) {
    for (const format of c.formats) {
      it(`agree on ${c.name} as ${format}`, async () => {
        const js = viaJs.get(`${c.name}/${format}`)!;
        const sql = viaSql.get(`${c.name}/${format}`)!;
        expect(sql.rows).toEqual(js.rows);
        if (format === 'parquet' && js.rows.total > 10_000) {
          expect(await parquetDifferences(js.file, sql.file)).toEqual({ types: 0, rows: 0 });
        } else if (format === 'parquet') {
          const [a, b] = [await parseParquet(readFileSync(js.file)), await parseParquet(readFileSync(sql.file))];
          expect(b.types).toEqual(a.types);
          expect(b.rows).toEqual(a.rows);
        } else {
          // Same bytes, so the same SHA-256 in the manifest whichever path wrote them.
          expect(firstDifference(readFileSync(js.file, 'utf8'), readFileSync(sql.file, 'utf8'))).toBeNull();
          expect(sql.sha256).toBe(js.sha256);
        }
      });
    }
  }

  it('have rows to compare: the windows cut p-cut, p-two comes once, p-withdrawn never', async () => {
    const all = viaJs.get(`${CASES[0]!.name}/ndjson`)!;
    expect(all.rows.total).toBeGreaterThan(500);
    expect(all.rows.total).toBeLessThan(seeded.length);
    expect(all.rows.deviceData).toBeGreaterThan(0);
    const rows = readFileSync(all.file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, string | null>);
    const of = (p: string) => rows.filter((r) => r.pseudonym === pseudonym(TRIAL, 'research', p));
    expect(of('p-withdrawn')).toEqual([]);
    const cut = of('p-cut').map((r) => Date.parse(r.device_time!));
    expect(cut.length).toBeGreaterThan(0);
    expect(Math.min(...cut)).toBeGreaterThanOrEqual(T0 + 90 * MIN + 1);
    expect(Math.max(...cut)).toBeLessThan(T0 + 210 * MIN);
    const twice = seeded.filter((p) => p.trialId === TRIAL && p.participantId === 'p-two' && p.deviceTime >= T0 && p.deviceTime < T0 + 250 * MIN);
    expect(twice.length).toBeGreaterThan(0);
    expect(of('p-two')).toHaveLength(twice.length);
    expect(viaJs.get('a large trial/csv')!.rows.total).toBeGreaterThan(BIG_ROWS / 2);
    // Alarm events carry the audience's alarm reference, never the hub's alarm id.
    const alarms = rows
      .filter((r) => r.device_id === ALARM_SOURCE_ID && r.kind === 'event')
      .map((r) => (JSON.parse(r.attributes!) as { alarmId: string }).alarmId);
    expect(alarms.length).toBeGreaterThan(0);
    for (const ref of alarms) expect(ref).toMatch(/^[0-9a-f]{20}$/);
    expect(readFileSync(viaSql.get(`${CASES[0]!.name}/ndjson`)!.file, 'utf8')).not.toContain('"alm-');
  });

  it('refuses a column it has no rendering for, rather than export blanks', async () => {
    const d = folder('unknown column');
    const path = join(dir, 'telemetry.duckdb');
    const instance = await DuckDBInstance.create(path);
    try {
      const request = {
        query: CASES[0]!.query,
        columns: [{ name: 'secret', type: 'VARCHAR' as const }],
        format: 'csv' as const,
        pseudonym: () => 'x',
        alarmEvents: { deviceId: ALARM_SOURCE_ID, ref: () => 'x' },
        baseline: null,
        interventionFrom: null,
      };
      await rejectsWith(duckDbDatasetExporter(instance).exportTo(request, join(d, 'x.csv')), 'INTERNAL', /secret/);
    } finally {
      instance.closeSync();
    }
  });
});
