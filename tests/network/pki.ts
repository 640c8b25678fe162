import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';

/**
 * A small PKI made with the openssl CLI for the TLS tests: a CA, certificates it issues
 * (server and device), and a second CA nobody configured. EC P-256 keys: fast to make.
 */
export interface Pki {
  readonly dir: string;
  /** Makes a self-signed CA; returns the paths of its certificate and key. */
  ca(name: string): { cert: string; key: string };
  /** A certificate issued by `ca` with the given subject CN and subjectAltName (openssl syntax). */
  issue(ca: { cert: string; key: string }, name: string, o: { cn?: string; san?: string }): { cert: string; key: string };
}

const openssl = (args: string[]): void => void execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'arena-pki-'));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  return {
    dir,
    ca(name) {
      const cert = join(dir, `${name}.crt`);
      const key = join(dir, `${name}.key`);
      openssl(['req', '-x509', ...ec, '-keyout', key, '-out', cert, '-days', '2', '-subj', `/O=Test arena/CN=${name}`]);
      return { cert, key };
    },
    issue(ca, name, o) {
      const cert = join(dir, `${name}.crt`);
      const key = join(dir, `${name}.key`);
      // OpenSSL 3's req -CA signs with the given CA in one step; -addext carries the SAN.
      openssl([
        'req',
        '-x509',
        ...ec,
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '2',
        '-CA',
        ca.cert,
        '-CAkey',
        ca.key,
        '-subj',
        o.cn ? `/O=Test arena/CN=${o.cn}` : '/O=Test arena',
        '-addext',
        'basicConstraints=critical,CA:FALSE',
        ...(o.san ? ['-addext', `subjectAltName=${o.san}`] : []),
      ]);
      return { cert, key };
    },
  };
}

export const fingerprintOf = (certFile: string): string => new X509Certificate(readFileSync(certFile)).fingerprint256;
