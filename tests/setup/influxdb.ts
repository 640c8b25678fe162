import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../soak/processes.js';
import { startInfluxBridge } from './influx-bridge.js';

/**
 * A real InfluxDB for tests: Debian's influxd (1.6.7) as a child process on loopback,
 * with everything in a fresh temp folder, plus the v2-write bridge in front of it
 * (tests/setup/influx-bridge.ts). `url` is influxd itself (v1 API), `v2url` the bridge,
 * which is what the adapter talks to. kill() is a crash (SIGKILL); restart() starts the
 * same config, data and ports again.
 */
export interface RunningInfluxd {
  readonly url: string;
  readonly v2url: string;
  readonly database: string;
  /** Its folder: config, meta, data (TSM, series index) and WAL. */
  readonly dir: string;
  /** Runs InfluxQL against influxd directly (e.g. CREATE DATABASE); throws on an error. */
  query(q: string, db?: string): Promise<unknown>;
  stop(): Promise<void>;
  kill(): Promise<void>;
  restart(): Promise<void>;
}

const MISSING =
  'influxd (InfluxDB 1.x) is not installed, and these tests need a real server. ' +
  'Run `bash tests/setup/ensure-packages.sh` (Debian package "influxdb"), then run the tests again.';

export function assertInfluxdInstalled(): void {
  const probe = spawnSync('influxd', ['version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) throw new Error(MISSING);
}

export async function startInfluxd(database = 'arena'): Promise<RunningInfluxd> {
  assertInfluxdInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'arena-influxd-'));
  const [httpPort, rpcPort] = [await freePort(), await freePort()];
  const config = join(dir, 'influxdb.conf');
  writeFileSync(config, configFile(dir, httpPort, rpcPort));
  const url = `http://127.0.0.1:${httpPort}`;

  let child: ChildProcess | undefined;
  let stderr = '';
  const launch = async (): Promise<void> => {
    stderr = '';
    const proc = spawn('influxd', ['run', '-config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    proc.stderr?.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
    child = proc;
    await waitForPing(url, proc, () => stderr);
  };
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill(signal);
    await exited;
  };

  await launch();
  const query = (q: string, db?: string) => influxQuery(url, q, db);
  await query(`CREATE DATABASE "${database}"`);
  const bridge = await startInfluxBridge(url);

  return {
    url,
    v2url: bridge.url,
    database,
    dir,
    query,
    kill: () => halt('SIGKILL'),
    async restart() {
      await halt('SIGTERM');
      await launch();
    },
    async stop() {
      await bridge.close();
      await halt('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** influxd.conf: loopback only, no reporting, no other listeners, quiet logs. */
function configFile(dir: string, httpPort: number, rpcPort: number): string {
  return `reporting-enabled = false
bind-address = "127.0.0.1:${rpcPort}"
[meta]
  dir = "${join(dir, 'meta')}"
  logging-enabled = false
[data]
  dir = "${join(dir, 'data')}"
  wal-dir = "${join(dir, 'wal')}"
  query-log-enabled = false
[monitor]
  store-enabled = false
[subscriber]
  enabled = false
[continuous_queries]
  enabled = false
[http]
  enabled = true
  bind-address = "127.0.0.1:${httpPort}"
  log-enabled = false
  pprof-enabled = false
[ifql]
  enabled = false
[logging]
  level = "warn"
  suppress-logo = true
[[graphite]]
  enabled = false
[[collectd]]
  enabled = false
[[opentsdb]]
  enabled = false
[[udp]]
  enabled = false
`;
}

export async function influxQuery(url: string, q: string, db?: string): Promise<unknown> {
  const body = new URLSearchParams({ q, ...(db ? { db } : {}) });
  const res = await fetch(`${url}/query`, { method: 'POST', body });
  const json = (await res.json()) as { error?: string; results?: { error?: string }[] };
  const error = json.error ?? json.results?.find((r) => r.error)?.error;
  if (!res.ok || error) throw new Error(`influxd: ${q}: ${error ?? res.status}`);
  return json;
}

async function waitForPing(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`influxd exited with ${proc.exitCode}:\n${log()}`);
    const ok = await fetch(`${url}/ping`).then(
      (r) => r.status === 204,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill('SIGKILL');
  throw new Error(`influxd did not answer /ping within 30 s:\n${log()}`);
}
