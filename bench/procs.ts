import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DIST } from './config.js';

import { freePort } from '../soak/processes.js';

export { freePort };

/** Child processes the bench starts on loopback: the hub, a plain broker, helpers. */

export async function waitForTcp(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child && child.exitCode !== null) throw new Error(`child exited with code ${child.exitCode} before listening`);
    const ok = await new Promise<boolean>((r) => {
      const s = tcpConnect(port, '127.0.0.1', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
    await sleep(50);
  }
}

/** How a child ended: its exit code, or the signal that ended it (e.g. SIGABRT when V8 runs out of heap). */
export type ExitStatus = number | NodeJS.Signals | null;

/** Sends SIGTERM, waits for exit, SIGKILL after graceMs. */
export async function stopChild(child: ChildProcess, graceMs = 15_000): Promise<ExitStatus> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode ?? child.signalCode;
  const exited = new Promise<ExitStatus>((r) => child.once('exit', (code, signal) => r(code ?? signal)));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

export interface HubChild {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly mqttPort: number;
  readonly apiPort: number;
  readonly adminToken: string;
  readonly logFile: string;
  api<T = unknown>(path: string, init?: { method?: string; body?: unknown; token?: string }): Promise<{ status: number; body: T }>;
  stop(): Promise<ExitStatus>;
}

/**
 * The real hub (dist/hub/main.js) in its own process, so the load generator does not
 * share its event loop, started with the Node flags `npm start` uses. extraNodeArgs:
 * e.g. --inspect for the profiler.
 */
/** As in package.json's start script and the Dockerfile; the raw aedes baseline gets them too. */
export const HUB_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=16'];
export const HUB_PROCESS_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

export async function startHubChild(opts: {
  dataDir: string;
  baseEnv: Readonly<Record<string, string | undefined>>;
  logFile: string;
  extraNodeArgs?: readonly string[];
  env?: Readonly<Record<string, string>>;
  /** Until the API listens: a store with a long history takes longer to open. */
  startTimeoutMs?: number;
}): Promise<HubChild> {
  const [mqttPort, apiPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  const log = createWriteStream(opts.logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...HUB_NODE_FLAGS, ...(opts.extraNodeArgs ?? []), join(DIST, 'hub/main.js')], {
    env: {
      ...opts.baseEnv,
      ...HUB_PROCESS_ENV,
      ARENA_DATA_DIR: opts.dataDir,
      MQTT_PORT: String(mqttPort),
      MQTT_WS_PORT: String(wsPort),
      API_PORT: String(apiPort),
      LOG_LEVEL: 'warn',
      ...opts.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  try {
    await waitForTcp(apiPort, opts.startTimeoutMs ?? 60_000, child);
    await waitForTcp(mqttPort, 10_000, child);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`hub did not start (${(e as Error).message}); see ${opts.logFile}`);
  }
  const adminToken = readFileSync(join(opts.dataDir, 'admin-token'), 'utf8').trim();
  const base = `http://127.0.0.1:${apiPort}`;
  return {
    child,
    pid: child.pid!,
    mqttPort,
    apiPort,
    adminToken,
    logFile: opts.logFile,
    async api<T>(path: string, init: { method?: string; body?: unknown; token?: string } = {}) {
      const res = await fetch(base + path, {
        method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
        headers: { authorization: `Bearer ${init.token ?? adminToken}`, ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // not JSON: keep the text
      }
      return { status: res.status, body: body as T };
    },
    stop: async () => {
      const code = await stopChild(child);
      log.end();
      return code;
    },
  };
}

/** A helper script from dist/bench/children/ with an IPC channel. */
export interface Helper {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Sends a request and resolves with the child's next reply. */
  request<T>(message: object, timeoutMs?: number): Promise<T>;
  stop(): Promise<ExitStatus>;
}

export async function forkHelper(
  script: string,
  args: readonly string[],
  baseEnv: Readonly<Record<string, string | undefined>>,
  execArgv: readonly string[] = [],
): Promise<Helper & { ready: unknown }> {
  const child = fork(join(DIST, 'bench/children', script), [...args], {
    env: { ...baseEnv },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: [...execArgv],
  });
  const next = <T>(timeoutMs: number): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => (cleanup(), reject(new Error(`${script}: no reply in ${timeoutMs} ms`))), timeoutMs);
      const onMessage = (m: unknown) => (
        cleanup(), (m as { error?: string }).error ? reject(new Error(`${script}: ${(m as { error: string }).error}`)) : resolve(m as T)
      );
      const onExit = (code: number | null) => (cleanup(), reject(new Error(`${script} exited with code ${code}`)));
      const cleanup = () => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
      };
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  const ready = await next<unknown>(120_000);
  return {
    child,
    pid: child.pid!,
    ready,
    request<T>(message: object, timeoutMs = 600_000) {
      const reply = next<T>(timeoutMs);
      child.send(message);
      return reply;
    },
    stop: () => stopChild(child, 5000),
  };
}
