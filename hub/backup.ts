import { createHash } from 'node:crypto';
import { constants, createReadStream, createWriteStream, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { HubError } from '../kernel/errors.js';
import type { SqlClient } from '../stores/sql/sql-client.js';
import type { WriteGate } from './backup-gate.js';

/**
 * One file holding everything an all-in-one hub needs to come back: the telemetry and
 * registry DuckDB files (with their WALs), the journal (set-aside batches included), the
 * pseudonym key (without it every researcher's pseudonyms change), the audit key
 * (without it the audit chain cannot be verified), the bootstrap admin token and the
 * erasure register. Format: a magic line, a JSON manifest line, then the files' bytes in
 * manifest order; each file's SHA-256 is checked at restore.
 */
const MAGIC = 'ARENA-HUB-BACKUP 1\n';
const FILES = [
  'telemetry.duckdb',
  'telemetry.duckdb.wal',
  'registry.duckdb',
  'registry.duckdb.wal',
  'pseudonym.key',
  'audit.key',
  'admin-token',
  'erasure-register.ndjson',
  'demo-devices.json',
];
const FOLDERS = ['journal'];

export interface BackupManifest {
  readonly createdAt: string;
  /** Every message acknowledged before this instant is in the backup; none acknowledged after it. */
  readonly cutAt: string;
  /** How long the hub held commits (devices waited for their PUBACK, nothing was refused). */
  readonly pausedMs: number;
  readonly files: readonly { readonly path: string; readonly size: number; readonly sha256: string }[];
}

function filesIn(dataDir: string): string[] {
  const out = FILES.filter((f) => existsSync(join(dataDir, f)));
  const walk = (dir: string): void => {
    for (const e of readdirSync(join(dataDir, dir), { withFileTypes: true })) {
      const rel = join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.isFile()) out.push(rel);
    }
  };
  for (const folder of FOLDERS) if (existsSync(join(dataDir, folder))) walk(folder);
  return out;
}

const sha256Of = async (file: string): Promise<string> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

async function fsyncFile(file: string): Promise<void> {
  const fh = await open(file, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Takes a consistent backup of the running hub into `out` (written beside it, then
 * renamed: a backup file is complete or absent). The cut: telemetry changes are held
 * (writeGate), the journal is loaded into DuckDB, and under a registry transaction (its
 * one queue holds every other statement) the files are copied into a staging folder in
 * the data folder, a local copy (a reflink where the file system has them). Then the
 * hub goes on, and the archive is packed from the staging copy.
 */
export async function takeBackup(o: { dataDir: string; gate: WriteGate; registry: SqlClient; out: string }): Promise<BackupManifest> {
  const out = resolve(o.out);
  const staging = join(o.dataDir, `.backup-${process.pid}-${Date.now()}`);
  mkdirSync(staging, { mode: 0o700 });
  try {
    const started = performance.now();
    const release = await o.gate.quiesce();
    let cutAt: string;
    let copied: string[];
    try {
      cutAt = new Date().toISOString();
      copied = await o.registry.transaction(async () => {
        const files = filesIn(o.dataDir);
        for (const f of files) {
          await mkdir(dirname(join(staging, f)), { recursive: true, mode: 0o700 });
          await copyFile(join(o.dataDir, f), join(staging, f), constants.COPYFILE_FICLONE);
        }
        return files;
      });
    } finally {
      release();
    }
    const pausedMs = Math.round(performance.now() - started);
    const files = [];
    for (const path of copied) files.push({ path, size: (await stat(join(staging, path))).size, sha256: await sha256Of(join(staging, path)) });
    const manifest: BackupManifest = { createdAt: new Date().toISOString(), cutAt, pausedMs, files };

    const partial = `${out}.partial`;
    const sink = createWriteStream(partial, { mode: 0o600 });
    sink.write(MAGIC);
    sink.write(`${JSON.stringify(manifest)}\n`);
    for (const f of files) await pipeline(createReadStream(join(staging, f.path)), sink, { end: false });
    await new Promise<void>((done, fail) => sink.end((e?: Error | null) => (e ? fail(e) : done())));
    await fsyncFile(partial);
    await rename(partial, out);
    return manifest;
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** Reads the manifest of a backup file, and where its data starts. */
async function readManifest(file: string): Promise<{ manifest: BackupManifest; dataStart: number }> {
  const fh = await open(file, 'r');
  try {
    const head = Buffer.alloc(Math.min(16 * 1024 * 1024, (await fh.stat()).size));
    await fh.read(head, 0, head.length, 0);
    if (!head.subarray(0, MAGIC.length).equals(Buffer.from(MAGIC))) throw new HubError('CONFIG_INVALID', `${file} is not an arena-hub backup`);
    const end = head.indexOf(10, MAGIC.length);
    if (end < 0) throw new HubError('CONFIG_INVALID', `${file}: the manifest is cut short`);
    return { manifest: JSON.parse(head.subarray(MAGIC.length, end).toString()) as BackupManifest, dataStart: end + 1 };
  } finally {
    await fh.close();
  }
}

/**
 * Restores a backup into a data folder that is empty or absent (never over a hub's
 * data). Every file is checked against its SHA-256 before the folder is used; the keys
 * and the token are written readable by this user only.
 */
export async function restoreBackup(o: { from: string; dataDir: string }): Promise<BackupManifest> {
  const dataDir = resolve(o.dataDir);
  if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    throw new HubError('CONFLICT', `${dataDir} is not empty: restore into an empty or new data folder`);
  }
  const { manifest, dataStart } = await readManifest(o.from);
  const total = manifest.files.reduce((n, f) => n + f.size, 0);
  if (statSync(o.from).size !== dataStart + total) throw new HubError('CONFIG_INVALID', `${o.from} is not complete: expected ${dataStart + total} bytes`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let offset = dataStart;
  for (const f of manifest.files) {
    const target = resolve(dataDir, f.path);
    if (!target.startsWith(dataDir + sep) || relative(dataDir, target).startsWith('..'))
      throw new HubError('CONFIG_INVALID', `${o.from}: path ${f.path} leaves the data folder`);
    await mkdir(dirname(target), { recursive: true, mode: 0o700 });
    if (f.size > 0) await pipeline(createReadStream(o.from, { start: offset, end: offset + f.size - 1 }), createWriteStream(target, { mode: 0o600 }));
    else await (await open(target, 'w', 0o600)).close();
    offset += f.size;
    const sha = await sha256Of(target);
    if (sha !== f.sha256) throw new HubError('CONFIG_INVALID', `${o.from}: ${f.path} does not match its checksum; the backup is damaged`);
    await fsyncFile(target);
  }
  return manifest;
}
