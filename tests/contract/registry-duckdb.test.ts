import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { MIGRATIONS } from '../../stores/sql/migrations.js';
import { verifySecret } from '../../kernel/secrets.js';
import { contractProfiles, registryContract, seedBeforeReopen } from './registry.contract.js';

const dir = mkdtempSync(join(tmpdir(), 'registry-duckdb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const profiles = contractProfiles();
let n = 0;
const openAt = async (file: string) => openSqlRegistry(await openDuckDbSqlClient(file), { profiles });

registryContract('duckdb', () => openAt(join(dir, `contract-${n++}.duckdb`)));

describe('registry on a DuckDB file', () => {
  it('keeps everything across close and reopen, and migrates only once', async () => {
    const file = join(dir, 'reopen.duckdb');
    const first = await openAt(file);
    const { secret, kept, revoked } = await seedBeforeReopen(first);
    await first.close();

    const sql = await openDuckDbSqlClient(file);
    const again = await openSqlRegistry(sql, { profiles });
    try {
      expect(await again.getSite('site-a')).toMatchObject({ name: 'Ward A', kind: 'patient-room' });
      expect(await again.listRooms('site-a')).toHaveLength(1);
      expect(await again.getVendor('aqua')).toMatchObject({ name: 'AquaScale' });
      expect(await again.getDevice('AQ-1')).toMatchObject({ siteId: 'site-a', roomId: 'room-1', active: false });
      // The in-memory directory is rebuilt at open.
      const creds = await again.directory.credentials('AQ-1');
      expect(creds).toMatchObject({ active: false, profileId: 'aquascale' });
      expect(await verifySecret(secret, creds!.secretHash)).toBe(true);
      expect(again.directory.attribution('AQ-1', Date.now())).toMatchObject({ siteId: 'site-a', roomId: 'room-1' });
      expect(await again.verifyToken(kept.token, Date.now())).toEqual({ role: 'vendor', tokenId: kept.id, vendorId: 'aqua' });
      expect(await again.verifyToken(revoked.token, Date.now())).toBeUndefined();
      expect(await again.hasAdminToken()).toBe(false);
      expect(await sql.query('SELECT version FROM schema_migrations ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    } finally {
      await again.close();
    }
  });
});

describe('DuckDB SqlClient', () => {
  it('returns numbers for BIGINT, rolls back a failed transaction, and is not interleaved', async () => {
    const sql = await openDuckDbSqlClient(join(dir, 'client.duckdb'));
    try {
      await sql.query('CREATE TABLE t (id TEXT PRIMARY KEY, t_ms BIGINT NOT NULL, ok BOOLEAN)');
      await sql.query('INSERT INTO t VALUES ($1, $2, $3)', ['a', 1_700_000_000_000, true]);
      expect(await sql.query('SELECT id, t_ms, ok FROM t')).toEqual([{ id: 'a', t_ms: 1_700_000_000_000, ok: true }]);
      expect(await sql.query('SELECT 9007199254740993::BIGINT AS big')).toEqual([{ big: '9007199254740993' }]);

      await expect(
        sql.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES ($1, $2, $3)', ['b', 2, false]);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      expect(await sql.query('SELECT id FROM t ORDER BY id')).toEqual([{ id: 'a' }]);

      await expect(sql.query('INSERT INTO t VALUES ($1, $2, $3)', ['a', 3, null])).rejects.toMatchObject({ code: 'CONFLICT' });

      // A statement issued while a transaction is open waits for it instead of joining it.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const tx = sql.transaction(async (t) => {
        await t.query('INSERT INTO t VALUES ($1, $2, $3)', ['c', 4, null]);
        await gate;
        throw new Error('rolled back');
      });
      const outside = sql.query<{ n: number }>('SELECT count(*)::BIGINT AS n FROM t');
      release();
      await expect(tx).rejects.toThrow('rolled back');
      expect(await outside).toEqual([{ n: 1 }]);
    } finally {
      await sql.close();
      await sql.close();
    }
  });
});
