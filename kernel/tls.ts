import { readFileSync, statSync } from 'node:fs';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from './log.js';

/** A server's certificate and key (PEM files), and for the broker the CA that issues device certificates. */
export interface TlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** Client certificates are asked for, and trusted, only when this is set. */
  readonly clientCaFile?: string;
  /** How often the files are looked at for a change (stat of size, mtime and inode). */
  readonly reloadCheckMs: number;
}

/** What a TLS server can swap without a restart (tls.Server#setSecureContext; https.Server inherits it). */
export interface SecureContextHolder {
  setSecureContext(options: SecureContextOptions): void;
}

const paths = (f: TlsFiles): string[] => [f.certFile, f.keyFile, ...(f.clientCaFile ? [f.clientCaFile] : [])];

/** Reads the files; throws with the file named when one is missing or unreadable. */
export function readTlsFiles(f: TlsFiles): SecureContextOptions {
  const read = (file: string): Buffer => {
    try {
      return readFileSync(file);
    } catch (e) {
      throw new Error(`cannot read TLS file ${file}: ${(e as Error).message}`, { cause: e });
    }
  };
  const options: SecureContextOptions = { cert: read(f.certFile), key: read(f.keyFile), ...(f.clientCaFile ? { ca: read(f.clientCaFile) } : {}) };
  // A key that does not match its certificate is found now, not at the first handshake.
  createSecureContext(options);
  return options;
}

const signature = (f: TlsFiles): string =>
  paths(f)
    .map((p) => {
      try {
        const s = statSync(p);
        return `${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');

/**
 * Swaps the servers' certificate, key and client CA when the files change, so a renewed
 * certificate (certbot, an internal CA's rotation) is served to new connections without a
 * restart; connections already open keep theirs. A periodic stat, not fs.watch: a file
 * replaced by rename (how certbot and Kubernetes secret volumes update) ends an inotify
 * watch on the old inode. A pair caught half-written does not load; the next look after
 * the files change again retries, and the old context serves meanwhile.
 */
export function watchTlsFiles(f: TlsFiles, servers: readonly SecureContextHolder[], log: Logger): { stop(): void } {
  let seen = signature(f);
  const timer = setInterval(() => {
    const now = signature(f);
    if (now === seen) return;
    seen = now;
    try {
      const options = readTlsFiles(f);
      for (const server of servers) server.setSecureContext(options);
      log.info({ event: 'tls_reloaded', files: paths(f) }, 'TLS certificate reloaded');
    } catch (err) {
      log.error({ err, event: 'tls_reload_failed', files: paths(f) }, 'TLS files changed but do not load; still serving the previous certificate');
    }
  }, f.reloadCheckMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
