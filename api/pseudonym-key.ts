import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { HubError } from '../kernel/errors.js';
import { PSEUDONYM_KEY_BYTES, newPseudonymKey } from '../kernel/pseudonym.js';

/**
 * The researchers' pseudonym key, generated once into the data folder, readable only by
 * the hub's user (0600). Losing it changes every pseudonym of every later export;
 * leaking it lets whoever has it link pseudonyms back to the hub's participant ids.
 * Never logged.
 */
export function loadOrCreatePseudonymKey(file: string): Buffer {
  if (!existsSync(file)) {
    // 'wx': if another process created it meanwhile, fail rather than overwrite its key.
    writeFileSync(file, newPseudonymKey().toString('base64'), { mode: 0o600, flag: 'wx' });
  }
  const key = Buffer.from(readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length < PSEUDONYM_KEY_BYTES)
    throw new HubError('CONFIG_INVALID', `${file}: the pseudonym key must be at least ${PSEUDONYM_KEY_BYTES} bytes (base64)`);
  return key;
}
