import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, connect as tcpConnect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { ClassicLevel } from 'classic-level';

/**
 * The hub's services as child processes on loopback, for the soak run and the fault
 * tests: started from dist/ (npm run build first), stopped with SIGTERM or SIGKILL.
 */

/** dist/, from dist/soak/ (compiled) or soak/ (vitest) alike. */
export const DIST = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../' : '../dist/', import.meta.url));

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL: the process gets no chance to do anything. */
  kill9(): Promise<void>;
  /** SIGTERM, then waits for the exit; SIGKILL after graceMs. Resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

/** Whether GET url answers 200 (a readiness endpoint). */
async function answersOk(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** When a started service counts as up: a port accepts connections, its log has a line containing this text, or a URL answers 200. */
export type Readiness = { readonly port: number } | { readonly logLine: string } | { readonly ok: string };

const isReady = (r: Readiness, logFile: string, logStart: number): Promise<boolean> | boolean =>
  'port' in r ? listening(r.port) : 'ok' in r ? answersOk(r.ok) : logSince(logFile, logStart).includes(r.logLine);

/** Starts `node dist/<entry>` with `env`, its output appended to logFile; resolves once it is ready. */
export async function startService(o: {
  name: string;
  entry: string;
  env: Record<string, string>;
  logFile: string;
  ready: Readiness;
  timeoutMs?: number;
  args?: string[];
}): Promise<Service> {
  const logStart = existsSync(o.logFile) ? statSync(o.logFile).size : 0;
  const log = createWriteStream(o.logFile, { flags: 'a' });
  const child = spawn(process.execPath, [join(DIST, o.entry), ...(o.args ?? [])], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const service: Service = {
    name: o.name,
    child,
    exited,
    async kill9() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 20_000) {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const { code } = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  // Generous: a start on a busy machine (the alarm replay, a cold registry) has taken over 30 s.
  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${o.name} exited (${child.exitCode ?? child.signalCode}) before listening; see ${o.logFile}:\n${tail(o.logFile)}`);
    }
    if (await isReady(o.ready, o.logFile, logStart)) return service;
    if (Date.now() > deadline) {
      await service.kill9();
      throw new Error(`${o.name} was not ready (${JSON.stringify(o.ready)}); see ${o.logFile}:\n${tail(o.logFile)}`);
    }
    await sleep(50);
  }
}

function logSince(file: string, offset: number): string {
  try {
    return readFileSync(file).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

const tail = (file: string): string => {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
};

export interface HubPorts {
  readonly mqtt: number;
  readonly ws: number;
  readonly api: number;
}

export const hubPorts = async (): Promise<HubPorts> => ({ mqtt: await freePort(), ws: await freePort(), api: await freePort() });

/** The all-in-one hub (dist/hub/main.js) on fixed ports, so devices reconnect to the same place after a restart. */
export function startHubProcess(o: { dataDir: string; ports: HubPorts; logFile: string; env?: Record<string, string> }): Promise<Service> {
  return startService({
    name: 'hub',
    entry: 'hub/main.js',
    logFile: o.logFile,
    ready: { port: o.ports.api }, // the API listens last
    // After a kill -9 under load the hub first reopens a journal of tens of MB; on a busy
    // box that takes longer than the default 30 s.
    timeoutMs: 120_000,
    env: {
      ARENA_DATA_DIR: o.dataDir,
      MQTT_PORT: String(o.ports.mqtt),
      MQTT_WS_PORT: String(o.ports.ws),
      API_PORT: String(o.ports.api),
      LOG_LEVEL: 'warn',
      ...o.env,
    },
  });
}

/** A small client of the hub's HTTP API with the admin token from its data folder. */
export function hubApi(apiPort: number, dataDir: string) {
  const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return async <T = unknown>(path: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const res = await fetch(`http://127.0.0.1:${apiPort}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
}

export interface SplitPorts {
  readonly mqtt: number;
  readonly ws: number;
  /** ingest's /healthz and /stats */
  readonly ingestHttp: number;
}

/**
 * The split layout's broker and ingest (dist/broker/main.js, dist/ingest/main.js) on one
 * machine: the registry in PostgreSQL at registryUrl, broker state under
 * `${dataDir}/broker-data`, the telemetry DuckDB file owned by ingest under
 * `${dataDir}/ingest-data`.
 */
export function splitLayout(o: { dataDir: string; registryUrl: string; ports: SplitPorts; serviceSecret: string; env?: Record<string, string> }) {
  const common = {
    ARENA_REGISTRY_URL: o.registryUrl,
    BROKER_SERVICE_SECRET: o.serviceSecret,
    MQTT_HOST: '127.0.0.1',
    MQTT_PORT: String(o.ports.mqtt),
    ...o.env,
  };
  return {
    ingestDataDir: join(o.dataDir, 'ingest-data'),
    startBroker: () =>
      startService({
        name: 'broker',
        entry: 'broker/main.js',
        logFile: join(o.dataDir, 'broker.log'),
        ready: { port: o.ports.mqtt },
        env: { ...common, ARENA_DATA_DIR: join(o.dataDir, 'broker-data'), MQTT_WS_PORT: String(o.ports.ws), LOG_LEVEL: 'warn' },
      }),
    /** The API on the registry and a DuckDB store of its own (a store nobody writes: enough for the registry's routes). */
    startApi: (apiPort: number) =>
      startService({
        name: 'api',
        entry: 'api/main.js',
        logFile: join(o.dataDir, 'api.log'),
        ready: { port: apiPort },
        env: { ...common, ARENA_DATA_DIR: join(o.dataDir, 'api-data'), ARENA_STORE: 'duckdb', API_PORT: String(apiPort), LOG_LEVEL: 'warn' },
      }),
    startIngest: () =>
      startService({
        name: 'ingest',
        entry: 'ingest/main.js',
        logFile: join(o.dataDir, 'ingest.log'),
        ready: { logLine: 'arena-hub ingest is up' },
        env: {
          ...common,
          ARENA_DATA_DIR: join(o.dataDir, 'ingest-data'),
          ARENA_STORE: 'duckdb',
          INGEST_HTTP_PORT: String(o.ports.ingestHttp),
          LOG_LEVEL: 'info',
        },
      }),
    /** Resolves once ingest has taken nothing new for quietMs: the broker's queue for it is then empty. */
    ingestIdle: async (quietMs = 2000, timeoutMs = 120_000): Promise<void> => {
      const deadline = Date.now() + timeoutMs;
      let last = -1;
      let since = Date.now();
      for (;;) {
        const res = await fetch(`http://127.0.0.1:${o.ports.ingestHttp}/stats`);
        const { received } = (await res.json()) as { received: number };
        if (received !== last) {
          last = received;
          since = Date.now();
        } else if (Date.now() - since >= quietMs) {
          return;
        }
        if (Date.now() > deadline) throw new Error(`ingest did not settle within ${timeoutMs} ms`);
        await sleep(100);
      }
    },
    /**
     * Messages the (stopped) broker still holds for ingest's sessions, read from its
     * LevelDB: the key of each, with the device's payload found inside it, if any.
     */
    queuedForIngest: async (): Promise<string[]> => {
      const db = new ClassicLevel<string, Buffer>(join(o.dataDir, 'broker-data', 'broker'), { valueEncoding: 'buffer' });
      await db.open();
      try {
        const entries = await db.iterator({ gte: 'outgoing:arena-ingest-', lt: 'outgoing:arena-ingest.' }).all();
        return entries.map(([key, value]) => `${key} ${/\{"serial"[^}]*\}/.exec(value.toString('latin1'))?.[0] ?? ''}`);
      } finally {
        await db.close();
      }
    },
  };
}
