/** What holds DuckDB's memory, said with an out-of-memory refusal so the log shows where it went. */
import type { DuckDBInstance } from '@duckdb/node-api';

const MB = 1024 * 1024;
const mb = (bytes: unknown): string => `${(Number(bytes) / MB).toFixed(1)} MB`;

/** DuckDB's memory by use (duckdb_memory()), and its spill files; uses holding nothing are left out. */
export async function memoryReport(instance: DuckDBInstance): Promise<string> {
  const c = await instance.connect();
  try {
    const uses = await c.runAndReadAll(
      'SELECT tag, memory_usage_bytes, temporary_storage_bytes FROM duckdb_memory() WHERE memory_usage_bytes > 0 OR temporary_storage_bytes > 0 ORDER BY tag',
    );
    const spill = await c.runAndReadAll('SELECT coalesce(sum(size), 0) FROM duckdb_temporary_files()');
    const parts = uses.getRows().map(([tag, used, spilled]) => `${String(tag)} ${mb(used)}${Number(spilled) > 0 ? ` (${mb(spilled)} spilled)` : ''}`);
    return `${parts.join(', ') || 'nothing'}; spill files ${mb(spill.getRows()[0]?.[0])}`;
  } finally {
    c.closeSync();
  }
}

/**
 * An out-of-memory refusal with DuckDB's memory by use after the rollback, on its first
 * line (the journal logs and reports that line): what stays there is what a load could
 * not have. Other errors, and a report that fails, leave the error as it was.
 */
export async function withMemoryReport(instance: DuckDBInstance, e: unknown): Promise<unknown> {
  if (!(e instanceof Error) || !/out of memory/i.test(e.message)) return e;
  try {
    const [first, ...rest] = e.message.split('\n');
    return new Error([`${first} [store memory after rollback: ${await memoryReport(instance)}]`, ...rest].join('\n'), { cause: e });
  } catch {
    return e;
  }
}
