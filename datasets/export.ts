import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, statSync, unlinkSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import type { Point } from '../kernel/telemetry.js';
import type { Cell, Column } from './columns.js';
import { csvHeader, csvRecord, ndjsonRecord, type DatasetFormat } from './formats.js';

export interface RowCounts {
  readonly total: number;
  readonly readings: number;
  readonly events: number;
  /** Rows with no participant (device data). */
  readonly deviceData: number;
}

export interface WrittenExport {
  readonly file: string;
  readonly bytes: number;
  /** SHA-256 of exactly the bytes of `file`, hex. */
  readonly sha256: string;
  readonly rows: RowCounts;
}

/** Lines are gathered into chunks of about this size before each write, and writes wait for drain. */
const CHUNK_BYTES = 64 * 1024;

/**
 * Writes the points into `dir` in the format, streaming: the store hands points over in
 * chunks and each chunk goes to disk before the next is read, so memory stays constant
 * whatever the size. Parquet goes through NDJSON and DuckDB's COPY, which also streams.
 * The export is a file before anything is sent, so its SHA-256 and row counts are known
 * up front and the audit entry can be written before the first byte leaves the hub.
 */
export async function writeExport(
  points: AsyncIterable<Point>,
  columns: readonly Column[],
  cellsOf: (p: Point) => Cell[],
  format: DatasetFormat,
  dir: string,
): Promise<WrittenExport> {
  const text = join(dir, format === 'csv' ? 'data.csv' : 'data.ndjson');
  const rows = await writeLines(points, columns, cellsOf, format === 'csv' ? 'csv' : 'ndjson', text);
  let file = text;
  if (format === 'parquet') {
    file = join(dir, 'data.parquet');
    await ndjsonToParquet(text, file, columns);
    unlinkSync(text);
  }
  return { file, bytes: statSync(file).size, sha256: await sha256Of(file), rows };
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

async function sha256Of(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
