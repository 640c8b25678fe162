import { resolve } from 'node:path';
import { z } from 'zod';
import type { TlsFiles } from '../kernel/tls.js';

/**
 * The TLS variables the broker (broker/config.ts) and the API (api/config.ts) both read:
 * one certificate for the hub's host name serves MQTT over TLS, secure WebSocket and
 * HTTPS. Set or unset together; unset, every listener is plain.
 */
export const path = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : resolve(v.trim())));

export const TlsEnv = {
  TLS_CERT_FILE: path,
  TLS_KEY_FILE: path,
  /** How often the files are looked at for a renewed certificate (kernel/tls.ts). */
  TLS_RELOAD_CHECK_MS: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? '10000' : v.trim()))
    .pipe(z.string().regex(/^\d+$/, 'must be a whole number'))
    .transform(Number)
    .pipe(z.number().int().min(50).max(86_400_000)),
};

type TlsVars = { TLS_CERT_FILE?: string | undefined; TLS_KEY_FILE?: string | undefined; TLS_RELOAD_CHECK_MS: number };

export function pairedTlsFiles(e: TlsVars, ctx: z.RefinementCtx): void {
  if ((e.TLS_CERT_FILE === undefined) !== (e.TLS_KEY_FILE === undefined)) {
    ctx.addIssue({
      code: 'custom',
      path: [e.TLS_CERT_FILE === undefined ? 'TLS_CERT_FILE' : 'TLS_KEY_FILE'],
      message: 'TLS_CERT_FILE and TLS_KEY_FILE go together',
    });
  }
}

export function tlsFiles(e: TlsVars, clientCaFile?: string): TlsFiles | undefined {
  if (e.TLS_CERT_FILE === undefined || e.TLS_KEY_FILE === undefined) return undefined;
  return Object.freeze({ certFile: e.TLS_CERT_FILE, keyFile: e.TLS_KEY_FILE, reloadCheckMs: e.TLS_RELOAD_CHECK_MS, ...(clientCaFile ? { clientCaFile } : {}) });
}
