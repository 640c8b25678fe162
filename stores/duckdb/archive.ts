import { chmod, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BIGINT, VARCHAR, type DuckDBConnection } from '@duckdb/node-api';

/**
 * Closed trials archived as Parquet (zstd) beside the store's file: the points leave
 * the DuckDB file, the dataset export still reads them (export.ts), an erasure rewrites
 * every archive that holds the participant (README.md in this folder, "Retention").
 *
 * `archives` lists the files. A file is written as `<name>.tmp`, the row is inserted and
 * the trial's points deleted in one transaction, and only after the commit is the file
 * renamed into place; openArchives() finishes or undoes what a crash interrupted, so a
 * point is never both in the file and archived, nor in neither.
 */
export const ARCHIVES_DDL = `CREATE TABLE IF NOT EXISTS archives (
  trial_id VARCHAR NOT NULL, file VARCHAR NOT NULL, points BIGINT NOT NULL, archived_at BIGINT NOT NULL)`;

export const archiveFolderOf = (path: string): string => `${path}.archive`;
const pending = (file: string): string => `${file}.tmp`;

/** Renames the pending file of every listed archive that a crash left unrenamed; removes pending files never committed. */
export async function openArchives(c: DuckDBConnection, folder: string): Promise<void> {
  const listed = new Set(await archiveFiles(c));
  let names: string[];
  try {
    names = await readdir(folder);
  } catch {
    return; // nothing archived yet
  }
  for (const name of names.filter((n) => n.endsWith('.tmp'))) {
    const file = join(folder, name.slice(0, -'.tmp'.length));
    if (listed.has(file)) await rename(join(folder, name), file);
    else await rm(join(folder, name), { force: true });
  }
}

/** The archive files, of one trial or of all. */
export async function archiveFiles(c: DuckDBConnection, trialId?: string): Promise<string[]> {
  const r =
    trialId === undefined
      ? await c.runAndReadAll('SELECT file FROM archives ORDER BY file')
      : await c.runAndReadAll('SELECT file FROM archives WHERE trial_id = $1 ORDER BY file', [trialId], [VARCHAR]);
  return r.getRows().map((row) => String(row[0]));
}

/** `points` and the archives as one relation (same columns; a column added later reads as NULL from older files). */
export function withArchives(files: readonly string[]): string {
  if (files.length === 0) return 'points';
  return `(SELECT * FROM points UNION ALL BY NAME SELECT * FROM read_parquet([${files.map(literal).join(', ')}]))`;
}

/**
 * Writes the trial's points to a pending file (synced) and, in the caller's transaction,
 * lists it and deletes them. Returns the file to rename after the commit, or null when
 * the trial has no points.
 */
export async function archiveTrialPoints(c: DuckDBConnection, folder: string, trialId: string, now: number): Promise<{ file: string; points: number } | null> {
  const file = join(folder, `trial-${encodeURIComponent(trialId)}-${now}.parquet`);
  const copied = await c.run(
    `COPY (SELECT * FROM points WHERE trial_id = ${literal(trialId)} ORDER BY device_id, kind, name, device_time, message_id, seq)
       TO ${literal(pending(file))} (FORMAT parquet, COMPRESSION zstd)`,
  );
  const points = Number(copied.rowsChanged);
  if (points === 0) {
    await rm(pending(file), { force: true });
    return null;
  }
  await syncFile(pending(file));
  await c.run('INSERT INTO archives VALUES ($1, $2, $3, $4)', [trialId, file, points, now], [VARCHAR, VARCHAR, BIGINT, BIGINT]);
  await c.run('DELETE FROM points WHERE trial_id = $1', [trialId], [VARCHAR]);
  return { file, points };
}

export async function commitArchive(file: string): Promise<void> {
  await rename(pending(file), file);
}

/**
 * Erasure reaches the archives: each file holding the participant is written again
 * without them (a new file, so none of their bytes remain) and renamed over the old one.
 */
export async function eraseFromArchives(c: DuckDBConnection, participantId: string): Promise<number> {
  let erased = 0;
  for (const file of await archiveFiles(c)) {
    const r = await c.runAndReadAll(`SELECT count(*) FROM read_parquet(${literal(file)}) WHERE participant_id = $1`, [participantId], [VARCHAR]);
    const n = Number(r.getRows()[0]?.[0]);
    if (n === 0) continue;
    await c.run(
      `COPY (SELECT * FROM read_parquet(${literal(file)}) WHERE participant_id IS DISTINCT FROM ${literal(participantId)})
         TO ${literal(pending(file))} (FORMAT parquet, COMPRESSION zstd)`,
    );
    await syncFile(pending(file));
    await rename(pending(file), file);
    erased += n;
  }
  return erased;
}

export async function removeArchiveFiles(files: readonly string[]): Promise<void> {
  await Promise.all(files.map((f) => rm(f, { force: true })));
}

/** Readable by the hub alone (DuckDB creates files 0644), then synced. */
async function syncFile(path: string): Promise<void> {
  await chmod(path, 0o600);
  const f = await open(path, 'r');
  try {
    await f.sync();
  } finally {
    await f.close();
  }
}

const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;
