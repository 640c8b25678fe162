import pg from 'pg';
import { HubError } from '../../kernel/errors.js';
import type { SqlClient } from '../sql/sql-client.js';

/**
 * Cross-process freshness of the registry's in-memory read side.
 *
 * In the split deployment the broker, ingest and the API are separate processes, each
 * holding the registry's device directory and live-token map in memory. A write in one
 * process (the API, usually) commits a `NOTIFY arena_registry` in the same transaction;
 * PostgreSQL delivers it to every listening session after the commit, and never for a
 * rolled-back transaction. Each process watches the channel and reloads its caches.
 *
 * The writer side is either installRegistryNotifyTriggers() once after migrating
 * (triggers notify with the changed table's name; nothing in the registry changes), or
 * notifyRegistryChange(tx) inside each write's transaction. The reader side is
 * watchRegistryChanges(), typically with coalesceReloads(() => registry.reload()).
 * stores/postgres/shared-registry.ts puts the pieces together for the split services.
 */
export const REGISTRY_CHANNEL = 'arena_registry';

export interface RegistryWatch {
  close(): Promise<void>;
}

export interface WatchOptions {
  /** LISTEN channel, a plain lower-case identifier. Default `arena_registry`. */
  readonly channel?: string;
  /** First reconnect delay; doubles up to 5 s. Default 200 ms. */
  readonly retryMs?: number;
  /**
   * How often the listening connection is probed with `SELECT 1`, so a silently dead
   * connection (a LISTEN-only session never sends anything) is noticed and replaced.
   * Default 30 s; 0 turns the probe off.
   */
  readonly heartbeatMs?: number;
  /** Connection losses, failed reconnects and exceptions thrown by onChange. */
  readonly onError?: (e: unknown) => void;
}

/**
 * Calls onChange(payload) for every notification on the channel, on its own dedicated
 * connection (not a pooled one: LISTEN belongs to a session). Resolves once LISTEN is in
 * effect, so a caller that loads its caches after this resolves misses nothing; fails
 * when the first connection fails.
 *
 * When the connection is lost it reconnects with back-off, and after LISTEN is in effect
 * again it calls onChange('') once, because notifications sent meanwhile are lost: ''
 * means "anything may have changed". close() stops for good and is idempotent.
 */
export async function watchRegistryChanges(url: string, onChange: (payload: string) => void, opts: WatchOptions = {}): Promise<RegistryWatch> {
  const channel = opts.channel ?? REGISTRY_CHANNEL;
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(channel)) throw new HubError('CONFIG_INVALID', `LISTEN channel "${channel}" is not a plain identifier`);
  const firstRetryMs = opts.retryMs ?? 200;
  const heartbeatMs = opts.heartbeatMs ?? 30_000;
  const report = (e: unknown): void => {
    try {
      opts.onError?.(e);
    } catch {
      // a failing reporter must not stop the watch
    }
  };
  const deliver = (payload: string): void => {
    try {
      onChange(payload);
    } catch (e) {
      report(e);
    }
  };

  let closed = false;
  let client: pg.Client | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let retryMs = firstRetryMs;

  /** Opens a session and LISTENs; the session reports its own loss through lost(). */
  const listen = async (): Promise<void> => {
    const c = new pg.Client({
      connectionString: url,
      application_name: 'arena-registry-watch',
      connectionTimeoutMillis: 10_000,
      // A heartbeat that gets no answer (half-open TCP) fails after 10 s instead of never.
      query_timeout: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    let gone = false;
    let heartbeat: NodeJS.Timeout | undefined;
    const lost = (e: unknown): void => {
      if (gone) return;
      gone = true;
      clearInterval(heartbeat);
      if (client === c) client = undefined;
      c.end().catch(() => undefined);
      if (closed) return;
      report(e);
      scheduleReconnect();
    };
    c.on('notification', (n) => {
      if (n.channel === channel) deliver(n.payload ?? '');
    });
    c.on('error', lost);
    c.on('end', () => lost(new HubError('STORE_UNAVAILABLE', 'the registry LISTEN connection ended')));
    try {
      await c.connect();
      await c.query(`LISTEN ${channel}`);
    } catch (e) {
      gone = true;
      await c.end().catch(() => undefined);
      // As the SqlClient reports a refused connection (stores/postgres/sql-client.ts).
      throw new HubError('STORE_UNAVAILABLE', `PostgreSQL: the registry change watch could not LISTEN: ${e instanceof Error ? e.message : String(e)}`, {
        cause: e,
      });
    }
    if (closed) {
      gone = true;
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    if (heartbeatMs > 0) {
      heartbeat = setInterval(() => void c.query('SELECT 1').catch(lost), heartbeatMs);
      heartbeat.unref();
    }
  };

  const scheduleReconnect = (): void => {
    if (closed || retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      listen().then(
        () => {
          if (closed) return;
          retryMs = firstRetryMs;
          deliver('');
        },
        (e: unknown) => {
          report(e);
          retryMs = Math.min(retryMs * 2, 5_000);
          scheduleReconnect();
        },
      );
    }, retryMs);
  };

  await listen();

  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        closed = true;
        clearTimeout(retryTimer);
        const c = client;
        client = undefined;
        await c?.end().catch(() => undefined);
      })()),
  };
}

/**
 * The writer's half: queues a notification in the caller's transaction, delivered to
 * every watcher when it commits (and dropped if it rolls back). PostgreSQL only: DuckDB
 * has no NOTIFY. Several notifications with the same payload in one transaction are
 * delivered once. The payload (under 8000 bytes) may say what changed, e.g. 'devices'
 * or 'tokens'; watchers must treat '' as "anything".
 */
export async function notifyRegistryChange(tx: SqlClient, payload = '', channel = REGISTRY_CHANNEL): Promise<void> {
  await tx.query('SELECT pg_notify($1, $2)', [channel, payload]);
}

/**
 * The tables whose rows some process holds in memory: the device directory (devices),
 * the live-token map (api_tokens) and the attribution index (trials, trial_vendors,
 * assignments; participants, whose erasure ends assignments).
 */
export const REGISTRY_CACHED_TABLES: readonly string[] = ['devices', 'api_tokens', 'trials', 'trial_vendors', 'participants', 'assignments'];

/**
 * The writer's half without touching the registry's write paths: a statement-level
 * trigger on each table that notifies the channel with the table's name, so every
 * committed INSERT/UPDATE/DELETE/TRUNCATE there (by the registry in any process, or by
 * an operator in psql) reaches the watchers, once per table per transaction, and a
 * rolled-back one never does. PostgreSQL-only DDL, so it is not in the portable
 * migrations: run it after openSqlRegistry() has migrated. Idempotent and safe to run
 * from several processes at once; tables that do not exist (yet) are skipped and
 * returned, so run it again after a migration adds one.
 */
export async function installRegistryNotifyTriggers(
  sql: SqlClient,
  tables: readonly string[] = REGISTRY_CACHED_TABLES,
  channel = REGISTRY_CHANNEL,
): Promise<{ installed: string[]; missing: string[] }> {
  const ident = /^[a-z_][a-z0-9_]{0,62}$/;
  for (const name of [channel, ...tables]) {
    if (!ident.test(name)) throw new HubError('CONFIG_INVALID', `"${name}" is not a plain identifier`);
  }
  const fn = `${channel}_notify`;
  return sql.transaction(async (tx) => {
    // Concurrent CREATE OR REPLACE of one function fails ("tuple concurrently updated"): one installer at a time.
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [fn]);
    await tx.query(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $body$
      BEGIN
        PERFORM pg_notify('${channel}', TG_TABLE_NAME);
        RETURN NULL;
      END
      $body$`);
    const installed: string[] = [];
    const missing: string[] = [];
    for (const table of tables) {
      const [row] = await tx.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table]);
      if (!row?.present) {
        missing.push(table);
        continue;
      }
      await tx.query(`CREATE OR REPLACE TRIGGER ${fn} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
      installed.push(table);
    }
    return { installed, missing };
  });
}

/**
 * Wraps an async reload for use as onChange: at most one reload runs at a time, and
 * notifications arriving meanwhile cause exactly one more run after it, so a burst of
 * writes costs two reloads, not one per write, and the last write is never missed.
 */
export function coalesceReloads(reload: () => Promise<void>, onError?: (e: unknown) => void): () => void {
  let running = false;
  let again = false;
  const run = (): void => {
    running = true;
    again = false;
    reload()
      .catch((e: unknown) => onError?.(e))
      .finally(() => {
        running = false;
        if (again) run();
      });
  };
  return () => {
    if (running) again = true;
    else run();
  };
}

/**
 * Runs fn (typically `openSqlRegistry(await openPostgresSqlClient(url), …)`) while
 * holding a PostgreSQL session advisory lock, so processes starting at once migrate
 * one after another. Without it, the split services' first start on an empty database
 * has them racing through `CREATE TABLE IF NOT EXISTS` (PostgreSQL answers the loser
 * with a unique violation on its catalog, pg_type_typname_nsp_index) and the
 * schema_migrations insert: every process but one fails to open with CONFLICT. The lock
 * is on a connection of its own, released when fn settles.
 */
export async function withRegistryMigrationLock<T>(url: string, fn: () => Promise<T>, key = 'arena_registry_migrate'): Promise<T> {
  const lock = new pg.Client({ connectionString: url, application_name: 'arena-registry-migrate', connectionTimeoutMillis: 10_000 });
  lock.on('error', () => undefined);
  try {
    await lock.connect();
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', [key]);
  } catch (e) {
    await lock.end().catch(() => undefined);
    throw new HubError('STORE_UNAVAILABLE', `PostgreSQL: could not take the migration lock: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
  try {
    return await fn();
  } finally {
    // Ending the session releases its advisory locks.
    await lock.end().catch(() => undefined);
  }
}
