import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AUDIT_KEY_BYTES, newAuditKey } from '../kernel/audit.js';
import { HubError } from '../kernel/errors.js';

/** A base64 audit key (configuration or key file), refused when shorter than the HMAC's output. */
export function parseAuditKey(text: string, where: string): Buffer {
  const key = Buffer.from(text.trim(), 'base64');
  if (key.length < AUDIT_KEY_BYTES) throw new HubError('CONFIG_INVALID', `${where}: the audit key must be at least ${AUDIT_KEY_BYTES} bytes (base64)`);
  return key;
}

/**
 * The audit log's HMAC key (kernel/audit.ts), kept outside the database: generated once
 * into the data folder, readable only by the hub's user (0600), as the pseudonym key is
 * (api/pseudonym-key.ts). Losing it makes the existing log unverifiable; whoever holds it
 * and can write the database could forge entries. Never logged.
 */
export function loadOrCreateAuditKey(file: string): Buffer {
  // 'wx': if another process created it meanwhile, fail rather than overwrite its key.
  if (!existsSync(file)) writeFileSync(file, newAuditKey().toString('base64'), { mode: 0o600, flag: 'wx' });
  return parseAuditKey(readFileSync(file, 'utf8'), file);
}
