/**
 * The smallest SQL port the registry needs, so one implementation runs on the embedded
 * DuckDB file and on PostgreSQL.
 *
 * Conventions every adapter keeps, so that callers never branch on the engine:
 * - positional parameters `$1, $2, ...` (both engines accept them);
 * - times are BIGINT epoch ms, and a BIGINT column comes back as a JS number (DuckDB
 *   answers bigint, pg answers a string; the adapter normalises). A value beyond
 *   Number.MAX_SAFE_INTEGER comes back as a decimal string rather than silently losing
 *   precision;
 * - TEXT comes back as string, BOOLEAN as boolean, INTEGER as number, NULL as null;
 * - a unique or primary-key violation is thrown as HubError('CONFLICT'), so a race
 *   between two writers reads the same as the registry's own duplicate check.
 */
export interface SqlClient {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /**
   * Runs fn inside one transaction: committed when fn resolves, rolled back when it
   * throws. Statements on `tx` are not interleaved with other callers' statements.
   * Calling transaction() on `tx` again joins the open transaction (no savepoints).
   * `readOnly`: fn only reads and needs one consistent snapshot, nothing more, so an
   * adapter may run it at a cheaper isolation level; an adapter that ignores the hint
   * (DuckDB, whose transactions run one at a time) is still correct.
   */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  close(): Promise<void>;
}

export interface TransactionOptions {
  readonly readOnly?: boolean;
}

/**
 * Numbered, append-only schema migrations (stores/sql/migrations.ts holds the registry's).
 * A released migration is never edited: a change is a new entry.
 */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly statements: readonly string[];
}

/**
 * Applies the migrations not yet recorded in `ledger`, each in its own transaction. Each
 * module that keeps tables on the same database (the registry, the audit log,
 * alarms/store.ts) has its own ledger, named by a constant.
 */
export async function migrate(sql: SqlClient, migrations: readonly Migration[], ledger: string, now: () => number = Date.now): Promise<number[]> {
  if (!/^[a-z_]+$/.test(ledger)) throw new Error(`not a ledger table name: ${ledger}`);
  await sql.query(`CREATE TABLE IF NOT EXISTS ${ledger} (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at BIGINT NOT NULL
  )`);
  const applied = new Set((await sql.query<{ version: number }>(`SELECT version FROM ${ledger}`)).map((r) => Number(r.version)));
  const done: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    if (applied.has(m.version)) continue;
    await sql.transaction(async (tx) => {
      for (const statement of m.statements) await tx.query(statement);
      // The primary key makes a concurrent second migrator fail here instead of applying twice.
      await tx.query(`INSERT INTO ${ledger} (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, now()]);
    });
    done.push(m.version);
  }
  return done;
}
