import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Everything in the data folder is the hub user's alone: folders 0700, files 0600,
 * whatever umask the hub was started with. DuckDB (files, WAL, spill folder), LevelDB,
 * the journal and export temp files are created by code that takes its mode from the
 * process umask, so the umask is set once here, before any of them opens; folders and
 * files an earlier run left readable to others are tightened too.
 */
export function keepFilesPrivate(dataDir: string): void {
  process.umask(0o077);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  tighten(dataDir);
}

function tighten(path: string): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return; // not ours to change; what it points to is checked where it lives
  if (st.mode & 0o077) chmodSync(path, st.isDirectory() ? 0o700 : 0o600);
  if (st.isDirectory()) for (const name of readdirSync(path)) tighten(join(path, name));
}
