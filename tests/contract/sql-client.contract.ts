import { afterEach, describe, expect, it } from 'vitest';
import { isHubError } from '../../kernel/errors.js';
import { migrate, type SqlClient } from '../../kernel/sql.js';

/**
 * The behaviour every SqlClient adapter promises (kernel/sql.ts), so that the registry and
 * the alarm tables run unchanged on the embedded DuckDB file and on PostgreSQL. Each
 * adapter's test file calls sqlClientContract() with a factory that opens a clean database.
 */
export function sqlClientContract(name: string, open: () => Promise<SqlClient>): void {
  describe(`SqlClient contract: ${name}`, () => {
    const opened: SqlClient[] = [];
    const fresh = async (): Promise<SqlClient> => {
      const sql = await open();
      opened.push(sql);
      await sql.query('CREATE TABLE t (id TEXT PRIMARY KEY, ts BIGINT, n INTEGER, ok BOOLEAN, note TEXT)');
      return sql;
    };
    afterEach(async () => {
      for (const sql of opened.splice(0)) await sql.close();
    });

    it('binds positional parameters and answers TEXT, BIGINT, INTEGER, BOOLEAN and NULL as JS values', async () => {
      const sql = await fresh();
      await sql.query('INSERT INTO t (id, ts, n, ok, note) VALUES ($1, $2, $3, $4, $5)', ['a', 1_700_000_000_123, 7, true, null]);
      expect(await sql.query('SELECT id, ts, n, ok, note FROM t WHERE id = $1', ['a'])).toEqual([
        { id: 'a', ts: 1_700_000_000_123, n: 7, ok: true, note: null },
      ]);
    });

    it('answers a BIGINT beyond Number.MAX_SAFE_INTEGER as its decimal string, never a rounded number', async () => {
      const sql = await fresh();
      await sql.query(`INSERT INTO t (id, ts) VALUES ('big', 9007199254740993)`);
      expect(await sql.query('SELECT ts FROM t')).toEqual([{ ts: '9007199254740993' }]);
    });

    it('throws CONFLICT on a primary-key violation', async () => {
      const sql = await fresh();
      await sql.query(`INSERT INTO t (id) VALUES ('a')`);
      const e: unknown = await sql.query(`INSERT INTO t (id) VALUES ('a')`).catch((err: unknown) => err);
      expect(isHubError(e) && e.code).toBe('CONFLICT');
    });

    it('commits a transaction when its function resolves, and rolls all of it back when it throws', async () => {
      const sql = await fresh();
      expect(await sql.transaction(async (tx) => (await tx.query(`INSERT INTO t (id) VALUES ('kept') RETURNING id`))[0])).toEqual({ id: 'kept' });
      const boom = new Error('boom');
      await expect(
        sql.transaction(async (tx) => {
          await tx.query(`INSERT INTO t (id) VALUES ('lost')`);
          throw boom;
        }),
      ).rejects.toBe(boom);
      expect(await sql.query('SELECT id FROM t ORDER BY id')).toEqual([{ id: 'kept' }]);
    });

    it('joins a transaction opened inside another: its writes go or stay with the outer one', async () => {
      const sql = await fresh();
      await expect(
        sql.transaction(async (tx) => {
          await tx.transaction(async (inner) => inner.query(`INSERT INTO t (id) VALUES ('inner')`));
          throw new Error('outer fails');
        }),
      ).rejects.toThrow('outer fails');
      expect(await sql.query('SELECT id FROM t')).toEqual([]);
      await sql.transaction(async (tx) => tx.transaction(async (inner) => inner.query(`INSERT INTO t (id) VALUES ('inner')`)));
      expect(await sql.query('SELECT id FROM t')).toEqual([{ id: 'inner' }]);
    });

    it('migrates each migration once per ledger, in version order, and refuses a ledger name that is not a plain word', async () => {
      const sql = await fresh();
      const migrations = [
        { version: 2, name: 'second', statements: [`INSERT INTO t (id) VALUES ('v2')`] },
        { version: 1, name: 'first', statements: ['CREATE TABLE m (id TEXT PRIMARY KEY)', `INSERT INTO t (id) VALUES ('v1')`] },
      ];
      expect(await migrate(sql, migrations, 'contract_migrations', () => 42)).toEqual([1, 2]);
      expect(await migrate(sql, migrations, 'contract_migrations')).toEqual([]);
      expect(await sql.query('SELECT version, name, applied_at FROM contract_migrations ORDER BY version')).toEqual([
        { version: 1, name: 'first', applied_at: 42 },
        { version: 2, name: 'second', applied_at: 42 },
      ]);
      expect(await sql.query('SELECT id FROM t ORDER BY id')).toEqual([{ id: 'v1' }, { id: 'v2' }]);
      await expect(migrate(sql, migrations, 'ledger; DROP TABLE t')).rejects.toThrow(/not a ledger table name/);
    });

    it('applies nothing of a migration whose statement fails, and records it not applied', async () => {
      const sql = await fresh();
      const broken = [{ version: 1, name: 'broken', statements: [`INSERT INTO t (id) VALUES ('half')`, 'INSERT INTO no_such_table VALUES (1)'] }];
      await expect(migrate(sql, broken, 'contract_migrations')).rejects.toThrow(/no_such_table/);
      expect(await sql.query('SELECT id FROM t')).toEqual([]);
      expect(await sql.query('SELECT version FROM contract_migrations')).toEqual([]);
    });
  });
}
