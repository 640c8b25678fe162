import pg from 'pg';
import { HubError } from '../../kernel/errors.js';
import type { SqlClient, TransactionOptions } from '../sql/sql-client.js';

export interface PostgresSqlClientOptions {
  /** Most pooled connections (pg default 10). */
  readonly max?: number;
}

/**
 * SqlClient on PostgreSQL (15), over a pg.Pool. Keeps the port's conventions
 * (stores/sql/sql-client.ts) the way the DuckDB adapter does:
 * - BIGINT (int8) comes back as a JS number, or as its decimal string beyond
 *   Number.MAX_SAFE_INTEGER (pg itself answers strings); NUMERIC likewise as a number
 *   when that is exact, else its string. The parsers are this pool's own (`types`), so
 *   other pg users in the process keep pg's global defaults;
 * - a unique or primary-key violation (SQLSTATE 23505) is HubError('CONFLICT'); a lost
 *   or refused connection, and any use after close(), is HubError('STORE_UNAVAILABLE');
 * - transaction(fn) runs on one pooled connection between BEGIN and COMMIT/ROLLBACK, so
 *   it is never interleaved with other callers (who use other connections meanwhile),
 *   at SERIALIZABLE isolation, retried on a serialization failure (see below); a
 *   `readOnly` one at REPEATABLE READ READ ONLY.
 *
 * Connects once at open, so a wrong URL or a down server fails here, not on first use.
 */
export async function openPostgresSqlClient(url: string, opts: PostgresSqlClientOptions = {}): Promise<SqlClient> {
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    application_name: 'arena-hub',
    types: TYPES,
  });
  // An idle pooled connection the server drops (restart, pg_terminate_backend) emits
  // 'error' on the pool; the pool discards it and the next query opens a new one.
  // Without a listener that event would crash the process.
  pool.on('error', () => undefined);

  let closing: Promise<void> | undefined;
  const assertOpen = (): void => {
    if (closing) throw new HubError('STORE_UNAVAILABLE', 'the PostgreSQL SQL client is closed');
  };

  try {
    await pool.query('SELECT 1');
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw translate(e);
  }

  return {
    async query<T>(sql: string, params?: unknown[]): Promise<T[]> {
      assertOpen();
      try {
        const result = await pool.query(sql, toParams(params));
        return result.rows as T[];
      } catch (e) {
        throw translate(e);
      }
    },

    async transaction<T>(fn: (tx: SqlClient) => Promise<T>, opts: TransactionOptions = {}): Promise<T> {
      for (let attempt = 1; ; attempt++) {
        assertOpen();
        try {
          return await attemptTransaction(pool, fn, opts.readOnly === true ? READ_SNAPSHOT : READ_WRITE);
        } catch (e) {
          if (!isSerializationFailure(e)) throw translate(e);
          if (attempt >= MAX_ATTEMPTS) {
            throw new HubError('STORE_UNAVAILABLE', `PostgreSQL: the transaction kept colliding with concurrent writers (${attempt} attempts)`, { cause: e });
          }
          // Jittered back-off, so the colliding writers do not collide again in step.
          await new Promise((r) => setTimeout(r, Math.random() * 5 * 2 ** attempt));
        }
      }
    },

    // Waits for queries and transactions in flight, then closes every connection.
    close: () => (closing ??= pool.end().catch(() => undefined)),
  };
}

// ---- transactions -----------------------------------------------------------------

/**
 * SERIALIZABLE, because the registry checks its invariants by reading inside the write
 * transaction ("no overlapping assignment for this device", "trial is still planned")
 * and then writes; under PostgreSQL's default READ COMMITTED two such transactions in
 * parallel (two pooled connections, or two processes) would both pass the check. The
 * DuckDB adapter never has two at once; SERIALIZABLE gives the same outcome as running
 * them one after another, and a transaction that would break that is aborted with
 * SQLSTATE 40001 and run again here from the start. So fn may run more than once: it
 * must do nothing but statements on `tx` (the registry updates its caches only after
 * transaction() resolves).
 */
const MAX_ATTEMPTS = 10;
const READ_WRITE = 'BEGIN ISOLATION LEVEL SERIALIZABLE';
/**
 * A read-only transaction (the registry's cache reload) needs one snapshot across its
 * statements, which REPEATABLE READ gives; at SERIALIZABLE it would also take predicate
 * locks that can push concurrent writers into serialization failures and retries.
 */
const READ_SNAPSHOT = 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY';

const isSerializationFailure = (e: unknown): boolean => {
  const code = (e as { code?: unknown } | null)?.code;
  return code === '40001' || code === '40P01';
};

async function attemptTransaction<T>(pool: pg.Pool, fn: (tx: SqlClient) => Promise<T>, begin: string): Promise<T> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    throw translate(e);
  }
  // A checked-out client has no listener of the pool's: a connection lost mid
  // transaction must reject the statement, not crash the process.
  let broken: unknown;
  const onError = (e: unknown): void => void (broken ??= e);
  client.on('error', onError);
  let open = true;
  const tx: SqlClient = {
    async query<R>(sql: string, params?: unknown[]): Promise<R[]> {
      if (!open) throw new HubError('INTERNAL', 'SQL transaction used after it ended');
      try {
        return (await client.query(sql, toParams(params))).rows as R[];
      } catch (e) {
        // A serialization failure stays as it is, for transaction() to retry.
        throw isSerializationFailure(e) ? e : translate(e);
      }
    },
    // Joins the open transaction (no savepoints), as the port specifies.
    transaction: (inner) => inner(tx),
    close: () => Promise.reject(new Error('close() inside a transaction')),
  };
  try {
    await client.query(begin);
    const result = await fn(tx);
    await client.query('COMMIT');
    return result;
  } catch (e) {
    // After a failed COMMIT the server has already rolled back; ROLLBACK is then a
    // harmless warning. If even ROLLBACK fails, the connection is suspect: drop it.
    await client.query('ROLLBACK').catch((rollbackError: unknown) => void (broken ??= rollbackError));
    throw e;
  } finally {
    open = false;
    client.off('error', onError);
    client.release(broken instanceof Error ? broken : broken === undefined ? undefined : true);
  }
}

// ---- parameters -------------------------------------------------------------------

type PgParam = string | number | boolean | null;

function toParams(params: unknown[] = []): PgParam[] {
  return params.map((value, i): PgParam => {
    if (value === undefined || value === null) return null;
    switch (typeof value) {
      case 'string':
      case 'boolean':
        return value;
      case 'number':
        if (!Number.isFinite(value)) throw new HubError('INTERNAL', `SQL parameter $${i + 1} is not a finite number`);
        return value;
      case 'bigint':
        return value.toString();
      default:
        throw new HubError('INTERNAL', `SQL parameter $${i + 1} has unsupported type ${typeof value}`);
    }
  });
}

// ---- result types -----------------------------------------------------------------

const INT8 = 20;
const NUMERIC = 1700;
const INT8_ARRAY = 1016;
const NUMERIC_ARRAY = 1231;

/** int8 text → number when exact, else the decimal string (as the DuckDB adapter does). */
export function parseBigInt(text: string): number | string {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : text;
}

/**
 * numeric text → number when the number prints back as the same value: integers within
 * the safe range, and decimals of at most 15 significant digits (which a double holds
 * exactly enough to round-trip). Anything else, and NaN/Infinity, stays a string.
 */
export function parseNumeric(text: string): number | string {
  if (/^-?\d+$/.test(text)) return parseBigInt(text);
  if (!/^-?\d*\.?\d*(e[-+]?\d+)?$/i.test(text)) return text;
  const digits = text.replace(/e.*$/i, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '');
  const n = Number(text);
  return digits.length <= 15 && Number.isFinite(n) ? n : text;
}

const mapDeep = (value: unknown, f: (s: string) => unknown): unknown =>
  Array.isArray(value) ? value.map((v) => mapDeep(v, f)) : typeof value === 'string' ? f(value) : value;

function getTypeParser(oid: number, format: 'text' | 'binary' = 'text'): (value: never) => unknown {
  if (format === 'text') {
    if (oid === INT8) return parseBigInt;
    if (oid === NUMERIC) return parseNumeric;
    if (oid === INT8_ARRAY || oid === NUMERIC_ARRAY) {
      const elements = (pg.types.getTypeParser as (oid: number, format: 'text') => (text: string) => unknown)(oid, 'text');
      const each = oid === INT8_ARRAY ? parseBigInt : parseNumeric;
      return (text: string) => mapDeep(elements(text), each);
    }
    return pg.types.getTypeParser(oid, 'text');
  }
  return pg.types.getTypeParser(oid, 'binary');
}

const TYPES = { getTypeParser } as unknown as pg.CustomTypesConfig;

// ---- errors -----------------------------------------------------------------------

/** SQLSTATEs meaning "the database is not there right now", not "your statement is wrong". */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '3D000']);
const UNAVAILABLE_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'EAI_AGAIN']);

function translate(e: unknown): unknown {
  if (e instanceof HubError) return e;
  const err = e as { code?: unknown; message?: unknown; detail?: unknown };
  const code = typeof err?.code === 'string' ? err.code : undefined;
  const message = typeof err?.message === 'string' ? err.message : String(e);
  if (code === '23505') {
    const detail = typeof err.detail === 'string' ? `${message}: ${err.detail}` : message;
    return new HubError('CONFLICT', detail, { cause: e });
  }
  if (
    (code !== undefined && (code.startsWith('08') || UNAVAILABLE_STATES.has(code) || UNAVAILABLE_NODE_CODES.has(code))) ||
    /Connection terminated|timeout exceeded when trying to connect|Cannot use a pool after calling end|Client was closed/i.test(message)
  ) {
    return new HubError('STORE_UNAVAILABLE', `PostgreSQL: ${message}`, { cause: e });
  }
  return e;
}
