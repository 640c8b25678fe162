import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';

/** Readers for exported datasets, written independently of datasets/ so a bug there cannot hide itself. */
export type Row = Record<string, string | number | boolean | null>;

/** RFC 4180 with a header line; empty fields come back as null. */
export function parseCsv(text: string): Row[] {
  const records: string[][] = [];
  let field = '';
  let record: string[] = [];
  let quoted = false;
  let wasQuoted = false;
  const endField = () => {
    record.push(field === '' && !wasQuoted ? '\u0000' : field);
    field = '';
    wasQuoted = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') {
      quoted = true;
      wasQuoted = true;
    } else if (ch === ',') endField();
    else if (ch === '\r' && text[i + 1] === '\n') {
      endField();
      records.push(record);
      record = [];
      i++;
    } else field += ch;
  }
  if (field !== '' || record.length > 0) {
    endField();
    records.push(record);
  }
  const [header, ...rest] = records;
  if (!header) return [];
  return rest.map((r) => Object.fromEntries(header.map((h, i) => [h, r[i] === '\u0000' || r[i] === undefined ? null : r[i]!])));
}

export const parseNdjson = (text: string): Row[] =>
  text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Row);

/** Reads Parquet bytes with DuckDB; timestamps come back as ISO strings, plus the column types. */
export async function parseParquet(bytes: Buffer): Promise<{ rows: Row[]; types: Record<string, string> }> {
  const dir = mkdtempSync(join(tmpdir(), 'parquet-read-'));
  const file = join(dir, 'x.parquet');
  writeFileSync(file, bytes);
  const db = await DuckDBInstance.create(':memory:');
  try {
    const c = await db.connect();
    const types = Object.fromEntries(
      (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`)).getRowObjectsJS().map((r) => [String(r.column_name), String(r.column_type)]),
    );
    const rows = (await c.runAndReadAll(`SELECT * FROM read_parquet('${file}')`)).getRowObjectsJS().map((r) => {
      const out: Row = {};
      for (const [k, v] of Object.entries(r)) out[k] = v instanceof Date ? v.toISOString() : (v as Row[string]);
      return out;
    });
    c.closeSync();
    return { rows, types };
  } finally {
    db.closeSync();
    rmSync(dir, { recursive: true, force: true });
  }
}
