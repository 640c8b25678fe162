import { chmodSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { Logger } from '../kernel/log.js';
import type { SqlClient } from '../stores/sql/sql-client.js';
import type { WriteGate } from './backup-gate.js';
import { takeBackup, type BackupManifest } from './backup.js';

/**
 * The running hub's control socket, `control.sock` in its data folder: the backup
 * command (hub/backup-cli.ts) asks the hub itself to cut a backup, since only the process
 * holding the DuckDB files can copy them consistently. A Unix socket, mode 0600 in the
 * private data folder: only the user the hub runs as can use it, as with a database's
 * local socket; nothing listens on the network.
 */
export const controlSocketOf = (dataDir: string): string => join(dataDir, 'control.sock');

type Reply = { ok: true; manifest: BackupManifest } | { ok: false; error: string };

export async function serveControl(o: { dataDir: string; gate: WriteGate; registry: SqlClient; logger: Logger }): Promise<{ close(): Promise<void> }> {
  const path = controlSocketOf(o.dataDir);
  // The DuckDB files are locked by now: a socket left here is a dead hub's.
  rmSync(path, { force: true });
  let running: Promise<unknown> = Promise.resolve();
  const server: Server = createServer((socket) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end < 0) return;
      const answer = (reply: Reply): void => void socket.end(`${JSON.stringify(reply)}\n`);
      let request: { op?: unknown; out?: unknown };
      try {
        request = JSON.parse(text.slice(0, end)) as typeof request;
      } catch {
        return answer({ ok: false, error: 'not a JSON request' });
      }
      if (request.op !== 'backup' || typeof request.out !== 'string') return answer({ ok: false, error: 'expected {"op":"backup","out":"<file>"}' });
      const out = request.out;
      // One backup at a time.
      const job = running.then(() => takeBackup({ dataDir: o.dataDir, gate: o.gate, registry: o.registry, out }));
      running = job.catch(() => undefined);
      job.then(
        (manifest) => {
          o.logger.info({ event: 'backup', file: out, cutAt: manifest.cutAt, pausedMs: manifest.pausedMs, files: manifest.files.length }, 'backup taken');
          answer({ ok: true, manifest });
        },
        (err: unknown) => {
          o.logger.error({ err, event: 'backup_failed', file: out }, 'backup failed');
          answer({ ok: false, error: (err as Error).message });
        },
      );
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  chmodSync(path, 0o600);
  return {
    close: () =>
      new Promise((resolve) =>
        server.close(() => {
          rmSync(path, { force: true });
          resolve();
        }),
      ),
  };
}

/** Asks the hub on `dataDir` for a backup into `out`; resolves with its manifest. */
export function requestBackup(dataDir: string, out: string): Promise<BackupManifest> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(controlSocketOf(dataDir));
    let text = '';
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ op: 'backup', out })}\n`));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('error', (e: NodeJS.ErrnoException) =>
      reject(e.code === 'ENOENT' || e.code === 'ECONNREFUSED' ? new Error(`no hub is running on ${dataDir} (no ${controlSocketOf(dataDir)})`) : e),
    );
    socket.on('end', () => {
      try {
        const reply = JSON.parse(text) as Reply;
        if (reply.ok) resolve(reply.manifest);
        else reject(new Error(reply.error));
      } catch {
        reject(new Error('the hub closed the control socket without an answer'));
      }
    });
  });
}
