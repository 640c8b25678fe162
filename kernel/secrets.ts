import { randomBytes, scrypt as scryptCb, timingSafeEqual, createHash } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (pw: string | Buffer, salt: Buffer, len: number, opts: object) => Promise<Buffer>;

// scrypt parameters (RFC 7914): N=2^14, r=8, p=1 costs ~40 ms and 16 MiB per check,
// which slows password guessing without hurting a device's reconnect.
const N = 16384;
const r = 8;
const p = 1;
const KEYLEN = 32;

/** A new random secret for a device or token: 32 bytes, base64url. Shown once. */
export const newSecret = (): string => randomBytes(32).toString('base64url');

export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(secret, salt, KEYLEN, { N, r, p, maxmem: 64 * 1024 * 1024 });
  return `scrypt$${N}$${r}$${p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

/** Constant-time check; any malformed stored hash answers false (fail closed). */
export async function verifySecret(secret: string | Buffer, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, rr, pp, saltB64, keyB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(keyB64, 'base64url');
  try {
    const key = await scrypt(secret, Buffer.from(saltB64, 'base64url'), expected.length, {
      N: Number(n),
      r: Number(rr),
      p: Number(pp),
      maxmem: 64 * 1024 * 1024,
    });
    return key.length === expected.length && timingSafeEqual(key, expected);
  } catch {
    return false;
  }
}

/**
 * API tokens are 256-bit random values, so a fast hash is enough to store them: there is
 * nothing to brute-force. Lookup is by this digest.
 */
export const tokenDigest = (token: string): string => createHash('sha256').update(token).digest('base64url');
