import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import { HubError } from '../../kernel/errors.js';
import type { SqlClient } from '../sql/sql-client.js';
import { copyToFreshFile, replaceWithFresh } from './compact.js';
import { openDuckDbInstance } from './instance.js';

/**
 * SqlClient on an embedded DuckDB file. DuckDB has one writer per file anyway, so this
 * adapter keeps a single connection and runs one statement (or one whole transaction)
 * at a time through a queue: a transaction is never interleaved with other statements.
 */
export type DuckDbSqlClient = SqlClient & {
  /**
   * Rewrites the file so that deleted rows leave no trace in it (./compact.ts): erasure's
   * last step for the alarm tables kept here. Waits for queued statements, holds later ones.
   */
  compact(): Promise<void>;
};

export async function openDuckDbSqlClient(path: string): Promise<DuckDbSqlClient> {
  // The registry is small; without a limit DuckDB would allow itself 80 % of the machine.
  const open = async (): Promise<[DuckDBInstance, DuckDBConnection]> => {
    const i = await openDuckDbInstance(path, { memory_limit: '256MB' });
    return [i, await i.connect()];
  };
  let [instance, connection] = await open();
  let closed = false;
  let tail: Promise<unknown> = Promise.resolve();

  /** Queues fn behind everything already queued; a failure does not block the queue. */
  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = tail.then(() => {
      if (closed) throw new HubError('STORE_UNAVAILABLE', 'the DuckDB SQL client is closed');
      return fn();
    });
    tail = run.catch(() => undefined);
    return run;
  }

  // Inside a transaction the queue is already held, so statements run directly.
  const inTransaction: SqlClient = {
    query: (sql, params) => run(connection, sql, params),
    transaction: (fn) => fn(inTransaction),
    close: () => Promise.reject(new Error('close() inside a transaction')),
  };

  return {
    query: (sql, params) => exclusive(() => run(connection, sql, params)),
    transaction: (fn) =>
      exclusive(async () => {
        await connection.run('BEGIN TRANSACTION');
        try {
          const result = await fn(inTransaction);
          await connection.run('COMMIT');
          return result;
        } catch (e) {
          await connection.run('ROLLBACK').catch(() => undefined);
          throw e;
        }
      }),
    compact: () =>
      exclusive(async () => {
        await copyToFreshFile(connection, path);
        connection.closeSync();
        instance.closeSync();
        try {
          await replaceWithFresh(path);
        } finally {
          [instance, connection] = await open(); // the old file again if the swap failed
        }
      }),
    // Waits for queued work, then closes; closing twice is a no-op.
    close: () =>
      closed
        ? Promise.resolve()
        : exclusive(async () => {
            closed = true;
            connection.closeSync();
            instance.closeSync();
          }),
  };
}

async function run<T>(connection: DuckDBConnection, sql: string, params: unknown[] = []): Promise<T[]> {
  try {
    const reader = await connection.runAndReadAll(sql, params.map(toDuckDb));
    return reader.getRowObjectsJS().map(normaliseRow) as T[];
  } catch (e) {
    throw translate(e);
  }
}

function toDuckDb(value: unknown, i: number): DuckDBValue {
  if (value === undefined || value === null) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
    case 'bigint':
      return value;
    default:
      throw new HubError('INTERNAL', `SQL parameter $${i + 1} has unsupported type ${typeof value}`);
  }
}

function normaliseRow(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(row)) {
    out[key] = typeof value === 'bigint' ? bigintToJs(value) : value;
  }
  return out;
}

const bigintToJs = (v: bigint): number | string => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString());

function translate(e: unknown): unknown {
  const message = e instanceof Error ? e.message : String(e);
  if (/Duplicate key|violates (primary key|unique) constraint/i.test(message)) {
    return new HubError('CONFLICT', message.replace(/^Constraint Error:\s*/, ''), { cause: e });
  }
  return e;
}
