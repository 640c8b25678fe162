import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../soak/processes.js';
import pg from 'pg';

/**
 * A real PostgreSQL for tests: Debian's PostgreSQL 15 server binaries
 * (/usr/lib/postgresql/15/bin, package postgresql-15; not on PATH) run directly, with
 * no cluster of the system's: initdb into a fresh temp folder, then `postgres` as a
 * child process listening on 127.0.0.1:<free port> and a socket in the same folder,
 * trust authentication, durability off (fsync) since the folder is thrown away.
 *
 * PostgreSQL refuses to run as root, so as root both run as the `postgres` system user
 * (the child is spawned with its uid/gid; the folder is chowned to it).
 */
export interface RunningPostgres {
  /** postgres://postgres@127.0.0.1:<port>/arena */
  readonly url: string;
  /** Creates a fresh, empty database and returns its URL. */
  newDatabase(prefix?: string): Promise<string>;
  /**
   * Creates a fresh, empty schema in the `url` database and returns a URL whose sessions
   * use it (search_path), so unqualified tables land there. Far cheaper than a database
   * (~1 ms against ~200 ms), but LISTEN/NOTIFY channels are per database, not per schema.
   */
  newSchema(prefix?: string): Promise<string>;
  /** Fast shutdown (clients are disconnected), then removes the folder; idempotent. */
  stop(): Promise<void>;
}

const MISSING =
  'The PostgreSQL server binaries (initdb, postgres) are not installed, and these tests need a real server. ' +
  'Run `bash tests/setup/ensure-packages.sh` (Debian package "postgresql-15", binaries in /usr/lib/postgresql/15/bin), then run the tests again.';

/** The bin folder holding initdb and postgres: 15 first, then any other Debian version, then $PATH. */
export function postgresBinDir(): string {
  const candidates: string[] = [];
  if (process.env.PG_BINDIR) candidates.push(process.env.PG_BINDIR);
  candidates.push('/usr/lib/postgresql/15/bin');
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql')
      .filter((v) => /^\d+$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const v of versions) candidates.push(`/usr/lib/postgresql/${v}/bin`);
  }
  for (const dir of candidates) if (existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  const onPath = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  const initdb = onPath.status === 0 ? onPath.stdout.trim() : '';
  if (initdb) {
    const dir = initdb.slice(0, initdb.lastIndexOf('/'));
    if (existsSync(join(dir, 'postgres'))) return dir;
  }
  throw new Error(MISSING);
}

/** uid/gid to run the server as: the `postgres` user when we are root, else ourselves. */
function runAs(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const id = (flag: string): number => {
    const r = spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`running as root, and there is no "postgres" system user to run PostgreSQL as (${r.stderr.trim()}). ${MISSING}`);
    return Number(r.stdout.trim());
  };
  return { uid: id('-u'), gid: id('-g') };
}

export async function startPostgres(database = 'arena'): Promise<RunningPostgres> {
  const bin = postgresBinDir();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'arena-pg-'));
  const data = join(dir, 'data');
  const sockets = join(dir, 'sock');
  mkdirSync(sockets);
  if (user) for (const p of [dir, sockets]) chownSync(p, user.uid, user.gid);
  const spawnOpts = { cwd: dir, ...(user ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' } };

  try {
    const init = spawnSync(
      join(bin, 'initdb'),
      ['-D', data, '--username=postgres', '--auth=trust', '--encoding=UTF8', '--no-locale', '--no-sync', '--no-instructions'],
      { ...spawnOpts, encoding: 'utf8' },
    );
    if (init.error || init.status !== 0) {
      throw new Error(`initdb failed (${init.error?.message ?? `exit ${init.status}`}):\n${init.stdout}\n${init.stderr}`);
    }
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }

  // Between freePort() and the server's bind another process may take the port: then
  // the server exits at once saying so, and it is started again on another port.
  let server: { proc: ChildProcess; port: number; log: () => string } | undefined;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      process.off('exit', killOnExit);
      if (server) await halt(server.proc);
      rmSync(dir, { recursive: true, force: true });
    })());
  // If the test process ends without stop(), do not leave a server behind.
  const killOnExit = (): void => void server?.proc.kill('SIGQUIT');
  process.once('exit', killOnExit);

  try {
    for (let attempt = 1; ; attempt++) {
      server = launch(bin, data, sockets, await freePort(), spawnOpts);
      try {
        await waitForConnections(`postgres://postgres@127.0.0.1:${server.port}/postgres`, server.proc, server.log);
        break;
      } catch (e) {
        if (attempt >= 3 || !/could not bind|address already in use/i.test(server.log())) throw e;
        await halt(server.proc);
      }
    }
  } catch (e) {
    await stop();
    throw e;
  }
  const base = `postgres://postgres@127.0.0.1:${server.port}`;
  try {
    await admin(`${base}/postgres`, `CREATE DATABASE ${database}`);
  } catch (e) {
    await stop();
    throw e;
  }

  let n = 0;
  const fresh = (prefix: string): string => `${prefix.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${n++}`;
  return {
    url: `${base}/${database}`,
    async newDatabase(prefix = 'test') {
      const name = fresh(prefix);
      await admin(`${base}/postgres`, `CREATE DATABASE ${name}`);
      return `${base}/${name}`;
    },
    async newSchema(prefix = 'test') {
      const name = fresh(prefix);
      await admin(`${base}/${database}`, `CREATE SCHEMA ${name}`);
      return `${base}/${database}?options=${encodeURIComponent(`-c search_path=${name}`)}`;
    },
    stop,
  };
}

function launch(
  bin: string,
  data: string,
  sockets: string,
  port: number,
  spawnOpts: { cwd: string; uid?: number; gid?: number; env: NodeJS.ProcessEnv },
): { proc: ChildProcess; port: number; log: () => string } {
  let stderr = '';
  const proc = spawn(
    join(bin, 'postgres'),
    [
      '-D',
      data,
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-k',
      sockets,
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
      '-c',
      'shared_buffers=32MB',
      '-c',
      'log_min_messages=warning',
    ],
    { ...spawnOpts, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  proc.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-8000)));
  return { proc, port, log: () => stderr };
}

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

async function waitForConnections(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  let last: unknown;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`postgres exited (${proc.exitCode ?? proc.signalCode}) before accepting connections:\n${log()}`);
    }
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return;
    } catch (e) {
      last = e;
      await client.end().catch(() => undefined);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`postgres did not accept connections within 30 s (${String(last)}):\n${log()}`);
}

/** SIGINT is PostgreSQL's fast shutdown; SIGQUIT (immediate) if that takes over 10 s. */
async function halt(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  proc.kill('SIGINT');
  const timer = setTimeout(() => proc.kill('SIGQUIT'), 10_000);
  await exited;
  clearTimeout(timer);
}
