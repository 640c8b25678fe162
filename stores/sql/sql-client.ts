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
