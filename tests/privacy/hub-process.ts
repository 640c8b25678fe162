import { chmodSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hubPorts, startHubProcess, type HubPorts, type Service } from '../../soak/processes.js';

/**
 * The all-in-one hub (dist/hub/main.js, `npm run build` first) as a child process started
 * with umask 022, its log outside the data folder so that everything in the folder is the
 * hub's own.
 */
export interface HubProcess {
  readonly dataDir: string;
  readonly ports: HubPorts;
  readonly service: Service;
  /** Stops the hub gracefully (exit 0 expected), then starts it again on the same folder and ports. */
  restart(between?: () => void): Promise<void>;
  api(path: string, init?: { method?: string; body?: unknown; token?: string }): Promise<{ status: number; body: any; text: string }>;
  /** Stops the hub (SIGTERM) and removes its folders. */
  dispose(): Promise<void>;
}

export async function startHubWithUmask022(): Promise<HubProcess> {
  const dataDir = mkdtempSync(join(tmpdir(), 'arena-privacy-'));
  const logDir = mkdtempSync(join(tmpdir(), 'arena-privacy-log-'));
  chmodSync(dataDir, 0o755); // as a data folder made by hand would be
  const ports = await hubPorts();
  const start = async (): Promise<Service> => {
    // The child inherits the umask; the hub must not depend on it (keepFilesPrivate).
    const before = process.umask(0o022);
    try {
      return await startHubProcess({ dataDir, ports, logFile: join(logDir, 'hub.log') });
    } finally {
      process.umask(before);
    }
  };
  let service = await start();
  const admin = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    dataDir,
    ports,
    get service() {
      return service;
    },
    async restart(between) {
      const alreadyExited = service.child.exitCode !== null || service.child.signalCode !== null;
      const code = await service.stop();
      if (code !== 0) {
        const { signal } = await service.exited;
        const how = `${alreadyExited ? 'before it was asked to stop' : 'when asked to stop'}: code ${code}, signal ${signal}`;
        throw new Error(`the hub exited ${how}:\n${readFileSync(join(logDir, 'hub.log'), 'utf8').split('\n').slice(-20).join('\n')}`);
      }
      between?.();
      service = await start();
    },
    async api(path, init = {}) {
      const res = await fetch(`http://127.0.0.1:${ports.api}${path}`, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${init.token ?? admin}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await res.text();
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = undefined; // a dataset in CSV or NDJSON
      }
      return { status: res.status, body, text };
    },
    async dispose() {
      await service.stop();
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(logDir, { recursive: true, force: true });
    },
  };
}

/** Every folder and file under dir (dir included), with its permission bits. */
export function modesUnder(dir: string): { path: string; dir: boolean; mode: number }[] {
  const st = lstatSync(dir);
  const here = { path: dir, dir: st.isDirectory(), mode: st.mode & 0o777 };
  if (!st.isDirectory()) return [here];
  return [here, ...readdirSync(dir).flatMap((n) => modesUnder(join(dir, n)))];
}
