import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { POOL_RESERVE, threadPoolSize } from '../../hub/config.js';
import { hubPorts, startHubProcess, type Service } from '../../soak/processes.js';

/**
 * libuv's pool of the hub process (hub/thread-pool.ts): a DuckDB query holds a pool thread
 * for as long as it runs, so the pool has one per export slot beside the reserve that the
 * journal's appends use. Counted in /proc as the threads named libuv-worker, in the real
 * hub (dist/hub/main.js, `npm run build` first); two threads outside the pool carry the
 * same name whatever its size, so hubs are compared with each other.
 */
const dirs: string[] = [];
const services: Service[] = [];
afterAll(async () => {
  for (const s of services) await s.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const poolThreads = (pid: number): number =>
  readdirSync(`/proc/${pid}/task`).filter((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim() === 'libuv-worker').length;

async function hubWith(env: Record<string, string>): Promise<Service> {
  const dataDir = mkdtempSync(join(tmpdir(), 'arena-pool-'));
  dirs.push(dataDir);
  const s = await startHubProcess({ dataDir, ports: await hubPorts(), logFile: join(dataDir, 'hub.log'), env });
  services.push(s);
  return s;
}

describe('thread pool', () => {
  it('is sized from the export slots, and an operator-set size is kept', () => {
    expect(threadPoolSize({})).toBe(4 + POOL_RESERVE);
    expect(threadPoolSize({ API_EXPORTS_TOTAL: '10' })).toBe(10 + POOL_RESERVE);
    expect(threadPoolSize({ API_EXPORTS_TOTAL: '10', UV_THREADPOOL_SIZE: '6' })).toBe(6);
    expect(threadPoolSize({ API_EXPORTS_TOTAL: '5000' })).toBe(1024);
    expect(threadPoolSize({ UV_THREADPOOL_SIZE: 'many' })).toBeUndefined();
  });

  it('the running hub has a pool thread per export slot and the reserve', async () => {
    const sized = await hubWith({ API_EXPORTS_TOTAL: '6' });
    const given = await hubWith({ API_EXPORTS_TOTAL: '6', UV_THREADPOOL_SIZE: '2' });
    expect(poolThreads(sized.child.pid!) - poolThreads(given.child.pid!)).toBe(6 + POOL_RESERVE - 2);
  });
});
