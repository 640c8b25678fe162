import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../kernel/log.js';
import { loadHubProcessConfig } from '../../hub/config.js';
import { startHub, readAdminToken, type RunningHub } from '../../hub/start.js';

export interface TestHub extends RunningHub {
  readonly dataDir: string;
  readonly adminToken: string;
  api(path: string, init?: { method?: string; body?: unknown; token?: string | null }): Promise<{ status: number; body: any; type: string }>;
  dispose(): Promise<void>;
}

/** Calls a hub's API on loopback as the admin (the token read when called), or with another token, or none (null). */
export function apiCaller(port: number, adminToken: () => string): TestHub['api'] {
  return async (path, init = {}) => {
    const token = init.token === undefined ? adminToken() : init.token;
    const res = await fetch(`http://127.0.0.1:${port}${path}`, {
      method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
      headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    const type = res.headers.get('content-type') ?? '';
    const text = await res.text();
    return { status: res.status, type, body: type.includes('json') && text ? JSON.parse(text) : text };
  };
}

/** The all-in-one hub in this process, on free loopback ports and a fresh data folder. */
export async function startTestHub(env: Record<string, string> = {}): Promise<TestHub> {
  const dataDir = mkdtempSync(join(tmpdir(), 'arena-hub-'));
  const e = { ARENA_DATA_DIR: dataDir, MQTT_PORT: '0', MQTT_WS_PORT: '0', API_PORT: '0', LOG_LEVEL: 'silent', ...env };
  const hub = await startHub({ ...loadHubProcessConfig(e), logger: createLogger(e.LOG_LEVEL) });
  const adminToken = readAdminToken(hub.adminTokenFile);
  return {
    ...hub,
    dataDir,
    adminToken,
    api: apiCaller(hub.apiPort, () => adminToken),
    async dispose() {
      await hub.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
