import { open, readdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';

/**
 * Erasure's last step on a DuckDB file. A DELETE leaves the deleted rows' bytes in freed
 * blocks, and a row group that keeps live rows keeps the deleted values in its string
 * dictionaries and min/max statistics; CHECKPOINT rewrites none of that. A new file
 * into which only the live tables are copied never held the erased rows, so it takes the
 * old file's place. The copy costs a read and a write of the whole file: erasures are
 * rare, and the file is as large as its data (promise 8).
 */
const COPY_ALIAS = 'erasure_copy';

export const freshFileOf = (path: string): string => `${path}.compact`;

/** Copies every table of the connection's database into a new file beside it; returns that file. */
export async function copyToFreshFile(c: DuckDBConnection, path: string): Promise<string> {
  const fresh = freshFileOf(path);
  await removeDatabaseFile(fresh); // a copy left by a crash mid-erasure
  const [row] = (await c.runAndReadAll('SELECT current_database()')).getRows();
  const database = String(row?.[0]);
  await c.run(`ATTACH ${literal(fresh)} AS ${COPY_ALIAS}`);
  try {
    await c.run(`COPY FROM DATABASE ${quoted(database)} TO ${COPY_ALIAS}`);
    await c.run(`CHECKPOINT ${COPY_ALIAS}`);
  } finally {
    await c.run(`DETACH ${COPY_ALIAS}`);
  }
  return fresh;
}

/**
 * Puts the copy in place of the old file, once no instance has the old one open. The old
 * WAL goes first: everything in it is in the copy, and replayed onto the copy it would
 * corrupt it. The rename is atomic; the directory is synced so it survives a crash.
 */
export async function replaceWithFresh(path: string): Promise<void> {
  await rm(`${path}.wal`, { force: true });
  await rename(freshFileOf(path), path);
  await rm(`${freshFileOf(path)}.wal`, { force: true });
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

/** Empties a spill folder (DuckDB's temp_directory): while no query runs, nothing in it is needed. */
export async function emptyFolder(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return; // never created: nothing ever spilled
  }
  await Promise.all(names.map((n) => rm(join(dir, n), { recursive: true, force: true })));
}

export async function removeDatabaseFile(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.wal`, { force: true });
}

const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;
const quoted = (s: string): string => `"${s.replaceAll('"', '""')}"`;
