import { ALARM_SOURCE_ID } from '../kernel/alarms.js';
import { chmodSync, createWriteStream, statSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { Worker } from 'node:worker_threads';
import { DuckDBInstance } from '@duckdb/node-api';
import type { DatasetExportRequest, DatasetRowCounts, TelemetryStore } from '../kernel/ports.js';
import type { Point } from '../kernel/telemetry.js';
import { cellsOf, type Cell, type Column, type RowContext } from './columns.js';
import { csvHeader, csvRecord, ndjsonRecord, type DatasetFormat } from './formats.js';

/** Rows of an export by kind; the manifest carries them. */
export type RowCounts = DatasetRowCounts;

export interface WrittenExport {
  readonly file: string;
  readonly bytes: number;
  /** SHA-256 of exactly the bytes of `file`, hex. */
  readonly sha256: string;
  readonly rows: RowCounts;
}

/** What to export: the released points, the audience's columns and how to fill them. */
export interface DatasetSpec {
  readonly query: DatasetExportRequest['query'];
  readonly columns: readonly Column[];
  readonly ctx: RowContext;
}

/** The store as an export reads it: its own exporter when it has one, else its point stream. */
export type DatasetSource = Pick<TelemetryStore, 'points' | 'exportTo'>;

/** Lines are gathered into chunks of about this size before each write, and writes wait for drain. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Writes the dataset into `dir` as a file before anything is sent, so its SHA-256 and
 * row counts are known up front and the audit entry can be written before the first
 * byte leaves the hub.
 *
 * A store that can write datasets itself (DuckDB: COPY ... TO) does, several times
 * faster than rendering a JS object per row; the result is the same file
 * (tests/datasets/export-parity.test.ts). Otherwise the points stream through JS: the
 * store hands them over in chunks and each chunk goes to disk before the next is read,
 * so memory stays constant whatever the size; Parquet then goes through NDJSON and
 * DuckDB's COPY, which also streams.
 */
export async function writeExport(source: DatasetSource, spec: DatasetSpec, format: DatasetFormat, dir: string): Promise<WrittenExport> {
  const file = join(dir, `data.${format}`);
  let rows: RowCounts;
  if (source.exportTo) {
    const { columns, ctx } = spec;
    rows = await source.exportTo(
      {
        query: spec.query,
        columns: columns.map((c) => ({ name: c.name, type: c.type })),
        format,
        pseudonym: ctx.pseudonym,
        alarmEvents: { deviceId: ALARM_SOURCE_ID, ref: ctx.alarmRef },
        baseline: ctx.trial.baseline,
        interventionFrom: ctx.trial.interventionFrom,
      },
      file,
    );
  } else {
    rows = await writeStreamed(source.points({ ...spec.query, order: 'asc' }), spec, format, file);
  }
  chmodSync(file, 0o600); // whoever wrote it (DuckDB creates files 0644): readable by the hub alone
  return { file, bytes: statSync(file).size, sha256: await sha256Of(file), rows };
}

async function writeStreamed(points: AsyncIterable<Point>, spec: DatasetSpec, format: DatasetFormat, file: string): Promise<RowCounts> {
  const { columns, ctx } = spec;
  const cells = (p: Point): Cell[] => cellsOf(columns, p, ctx);
  if (format !== 'parquet') return writeLines(points, columns, cells, format, file);
  const text = `${file}.ndjson`;
  const rows = await writeLines(points, columns, cells, 'ndjson', text);
  await ndjsonToParquet(text, file, columns);
  unlinkSync(text);
  return rows;
}

async function writeLines(
  points: AsyncIterable<Point>,
  columns: readonly Column[],
  cellsOf: (p: Point) => Cell[],
  format: 'csv' | 'ndjson',
  file: string,
): Promise<RowCounts> {
  const out = createWriteStream(file, { flags: 'wx', mode: 0o600 });
  let total = 0;
  let readings = 0;
  let deviceData = 0;
  let pending = format === 'csv' ? csvHeader(columns) : '';
  const flush = async (): Promise<void> => {
    if (pending === '') return;
    const ok = out.write(pending);
    pending = '';
    if (!ok) await once(out, 'drain');
  };
  try {
    for await (const p of points) {
      const cells = cellsOf(p);
      pending += format === 'csv' ? csvRecord(cells) : ndjsonRecord(columns, cells);
      total++;
      if (p.kind === 'reading') readings++;
      if (p.participantId === null) deviceData++;
      if (pending.length >= CHUNK_BYTES) await flush();
    }
    await flush();
  } finally {
    out.end();
    await finished(out);
  }
  return { total, readings, events: total - readings, deviceData };
}

/** Column names and types are constants from COLUMNS, never request input, so they are spliced as SQL. */
async function ndjsonToParquet(ndjson: string, parquet: string, columns: readonly Column[]): Promise<void> {
  const quote = (s: string): string => `'${s.replaceAll("'", "''")}'`;
  const struct = `{${columns.map((c) => `${c.name}: '${c.type}'`).join(', ')}}`;
  const db = await DuckDBInstance.create(':memory:', { threads: '1', memory_limit: '256MB' });
  try {
    const c = await db.connect();
    try {
      await c.run(
        `COPY (SELECT * FROM read_json(${quote(ndjson)}, format = 'newline_delimited', columns = ${struct}))
         TO ${quote(parquet)} (FORMAT PARQUET, COMPRESSION ZSTD)`,
      );
    } finally {
      c.closeSync();
    }
  } finally {
    db.closeSync();
  }
}

/** Files are read in chunks of this size to hash and to send: 64 KiB chunks made both several times slower. */
export const READ_CHUNK_BYTES = 1024 * 1024;

/**
 * Hashed on a worker thread, through one reused buffer (a fresh buffer per chunk cost more
 * than the hashing itself). On the main thread, four parallel exports' hashing and reading
 * (256 MB) ran between the health checks, PUBACKs and the files being sent. The worker is
 * a few lines of CommonJS given as text, so it needs no file of its own beside the built one.
 */
async function sha256Of(file: string): Promise<string> {
  const worker = new Worker(SHA256_WORKER, { eval: true, workerData: { file, chunk: READ_CHUNK_BYTES } });
  const [hex] = (await once(worker, 'message')) as [string];
  return hex;
}

const SHA256_WORKER = `
const { createHash } = require('node:crypto');
const { openSync, readSync, closeSync } = require('node:fs');
const { parentPort, workerData } = require('node:worker_threads');
const hash = createHash('sha256');
const buffer = Buffer.allocUnsafe(workerData.chunk);
const fd = openSync(workerData.file, 'r');
try {
  for (let n; (n = readSync(fd, buffer, 0, buffer.length, null)) > 0; ) hash.update(buffer.subarray(0, n));
} finally {
  closeSync(fd);
}
parentPort.postMessage(hash.digest('hex'));
`;
