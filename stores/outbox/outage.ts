import { isHubError } from '../../kernel/errors.js';

/**
 * Refusals that say nothing about the batch: the store lacks memory or disk, its files
 * fail, or it must be reopened (DuckDB invalidates a database after a fatal error).
 * Retried; never a reason to set a batch aside.
 */
const OUTAGE = [
  /out of memory/i,
  /failed to pin block/i,
  /could not allocate/i,
  /no space left|disk (is )?full|ENOSPC|EDQUOT/i,
  /I\/O error|IO Error|EIO\b/i,
  /database has been invalidated/i,
  /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|socket hang up/i,
];

export function isStoreOutage(e: unknown): boolean {
  if (isHubError(e) && e.code === 'STORE_UNAVAILABLE') return true;
  const message = e instanceof Error ? e.message : String(e);
  return OUTAGE.some((re) => re.test(message));
}
