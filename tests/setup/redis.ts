import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../../soak/processes.js';

/**
 * A real Redis for tests: Debian's redis-server on 127.0.0.1:<free port> in a fresh temp
 * folder, with the durability the hub's scaled layout states as its default (README
 * "Beyond one machine"): the append-only file on, fsynced on every write.
 */
export interface RunningRedis {
  readonly url: string;
  /** kill -9 and start again on the same folder: what the append-only file kept. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

const MISSING = 'redis-server is not installed, and these tests need a real one. Run `bash tests/setup/ensure-packages.sh` (Debian package "redis-server").';

export function assertRedisInstalled(): void {
  if (spawnSync('sh', ['-c', 'command -v redis-server']).status !== 0) throw new Error(MISSING);
}

export async function startRedis(): Promise<RunningRedis> {
  assertRedisInstalled();
  const dir = mkdtempSync(join(tmpdir(), 'arena-redis-'));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess;
  const start = async (): Promise<void> => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--protected-mode', 'no'],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 15_000;
    for (;;) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => undefined); // refused until the server listens
      const ok = await probe
        .connect()
        .then(() => probe.ping())
        .then(() => true)
        .catch(() => false);
      probe.disconnect();
      if (ok) return;
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      if (Date.now() > deadline) throw new Error('redis-server did not answer within 15 s');
      await sleep(50);
    }
  };
  const kill = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  };
  await start();
  return {
    url,
    async restart() {
      await kill();
      await start();
    },
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
