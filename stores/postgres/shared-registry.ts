import type { Registry } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { AUDIT_LEDGER, AUDIT_MIGRATIONS } from '../sql/audit-log.js';
import { migrate } from '../sql/migrations.js';
import { openSqlRegistry, type SqlRegistryOptions } from '../sql/registry.js';
import { coalesceReloads, installRegistryNotifyTriggers, watchRegistryChanges, withRegistryMigrationLock, type WatchOptions } from './registry-changes.js';
import { openPostgresSqlClient, type PostgresSqlClientOptions } from './sql-client.js';

export interface SharedRegistryOptions extends Omit<SqlRegistryOptions, 'onReloadError'> {
  /** Failed reloads (each is retried) and losses of the LISTEN connection (it reconnects). */
  readonly onError?: (e: unknown) => void;
  readonly pool?: PostgresSqlClientOptions;
  readonly watch?: Pick<WatchOptions, 'retryMs' | 'heartbeatMs'>;
  /** First delay before a failed reload is tried again; doubles up to 5 s. Default 250 ms. */
  readonly reloadRetryMs?: number;
}

/**
 * The registry one process of the split layout opens on the shared PostgreSQL: kept
 * fresh with the other processes' writes, not just its own.
 *
 * 1. LISTEN first, so anything committed from then on notifies us; the initial load
 *    starts later, so between the two nothing is missed.
 * 2. Migrate and install the notify triggers under the migration lock, so three
 *    services starting at once on an empty database do not race in migrate().
 * 3. Open (load the caches). A notification that arrived meanwhile waits for the open
 *    and then reloads.
 * 4. Every notification reloads (coalesced: a burst costs two reloads); a failed reload
 *    is retried with back-off, because a revoked device or token must not stay valid
 *    here until some unrelated later change.
 *
 * close() stops the watch and the retries, then closes the registry.
 */
export async function openSharedPostgresRegistry(url: string, opts: SharedRegistryOptions): Promise<Registry & TokenRegistry> {
  const report = (e: unknown): void => opts.onError?.(e);
  let opened!: (r: Registry) => void;
  let failed!: (e: unknown) => void;
  const ready = new Promise<Registry>((resolve, reject) => {
    opened = resolve;
    failed = reject;
  });
  ready.catch(() => undefined); // awaited only if a notification comes before the open settles

  const reloads = retrying(async () => (await ready).reload(), opts.reloadRetryMs ?? 250, report);
  const watch = await watchRegistryChanges(url, coalesceReloads(reloads.run), { ...opts.watch, onError: report });
  try {
    const sql = await openPostgresSqlClient(url, opts.pool);
    try {
      await withRegistryMigrationLock(url, async () => {
        await migrate(sql, opts.now);
        await migrate(sql, opts.now, AUDIT_MIGRATIONS, AUDIT_LEDGER);
        await installRegistryNotifyTriggers(sql);
      });
    } catch (e) {
      await sql.close();
      throw e;
    }
    const registry = await openSqlRegistry(sql, {
      profiles: opts.profiles,
      now: opts.now,
      onReloadError: report,
      ...(opts.auditKey ? { auditKey: opts.auditKey } : {}),
    });
    opened(registry);
    return {
      ...registry,
      async close() {
        await watch.close();
        await reloads.stop();
        await registry.close();
      },
    };
  } catch (e) {
    // Stopped before the waiting reloads learn of the failure, so they end quietly.
    const stopping = reloads.stop();
    failed(e);
    await watch.close();
    await stopping;
    throw e;
  }
}

/**
 * `reload` made to succeed eventually: a failure is reported and tried again after a
 * growing delay, until it succeeds or stop(). run() never rejects.
 */
function retrying(reload: () => Promise<void>, firstDelayMs: number, report: (e: unknown) => void) {
  let stopped = false;
  let wake: (() => void) | undefined;
  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void> = Promise.resolve();
  const pause = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      wake = resolve;
      timer = setTimeout(resolve, ms);
    });
  return {
    run(): Promise<void> {
      current = (async () => {
        for (let delay = firstDelayMs; !stopped; delay = Math.min(delay * 2, 5_000)) {
          try {
            await reload();
            return;
          } catch (e) {
            if (stopped) return;
            report(e);
            await pause(delay);
          }
        }
      })();
      return current;
    },
    /** No reload is running or will start once this resolves. */
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      wake?.();
      await current;
    },
  };
}
