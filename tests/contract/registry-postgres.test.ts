import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySecret } from '../../kernel/secrets.js';
import {
  coalesceReloads,
  installRegistryNotifyTriggers,
  notifyRegistryChange,
  REGISTRY_CHANNEL,
  watchRegistryChanges,
  withRegistryMigrationLock,
} from '../../stores/postgres/registry-changes.js';
import { openPostgresSqlClient, parseNumeric } from '../../stores/postgres/sql-client.js';
import { MIGRATIONS } from '../../stores/sql/migrations.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { contractProfiles, registryContract } from './registry.contract.js';

// A real PostgreSQL 15 (tests/setup/postgres.ts). Missing binaries fail this file with
// the instruction to run tests/setup/ensure-packages.sh; they never skip it.
let server: RunningPostgres;
beforeAll(async () => {
  server = await startPostgres();
});
afterAll(async () => {
  await server?.stop();
});

const profiles = contractProfiles();
const openAt = async (url: string) => openSqlRegistry(await openPostgresSqlClient(url), { profiles });

// Each contract test gets a schema of its own (a database each costs ~200 ms more).
registryContract('postgres', async () => openAt(await server.newSchema('contract')));

/** Resolves with the next value pushed, or rejects after ms. */
function inbox<T>() {
  const queue: T[] = [];
  const waiting: ((v: T) => void)[] = [];
  return {
    push(v: T) {
      const w = waiting.shift();
      if (w) w(v);
      else queue.push(v);
    },
    next(ms = 5_000): Promise<T> {
      if (queue.length > 0) return Promise.resolve(queue.shift() as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing arrived within ${ms} ms`)), ms);
        waiting.push((v) => {
          clearTimeout(timer);
          resolve(v);
        });
      });
    },
    get pending() {
      return queue.length;
    },
  };
}

describe('registry on PostgreSQL', () => {
  it('keeps everything across close and reopen, and migrates only once', async () => {
    const url = await server.newDatabase('reopen');
    const first = await openAt(url);
    await first.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
    await first.createRoom({ id: 'room-1', siteId: 'site-a', name: 'Room 1', beds: 1 });
    await first.createVendor({ id: 'aqua', name: 'AquaScale' });
    const { secret } = await first.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
    await first.setDeviceActive('AQ-1', false);
    const kept = await first.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'kept', expiresAt: null });
    const revoked = await first.issueToken({ role: 'admin', label: 'revoked', expiresAt: null });
    await first.revokeToken(revoked.id);
    await first.close();

    const sql = await openPostgresSqlClient(url);
    const again = await openSqlRegistry(sql, { profiles });
    try {
      expect(await again.getSite('site-a')).toMatchObject({ name: 'Ward A', kind: 'patient-room' });
      expect(await again.getDevice('AQ-1')).toMatchObject({ siteId: 'site-a', roomId: 'room-1', active: false });
      const creds = await again.directory.credentials('AQ-1');
      expect(creds).toMatchObject({ active: false, profileId: 'aquascale' });
      expect(await verifySecret(secret, creds!.secretHash)).toBe(true);
      expect(await again.verifyToken(kept.token, Date.now())).toEqual({ role: 'vendor', tokenId: kept.id, vendorId: 'aqua' });
      expect(await again.verifyToken(revoked.token, Date.now())).toBeUndefined();
      expect(await sql.query('SELECT version FROM schema_migrations ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      const [site] = await sql.query<{ created_at: unknown }>('SELECT created_at FROM sites');
      expect(typeof site!.created_at).toBe('number');
    } finally {
      await again.close();
    }
  });

  it('maps a primary-key race between two writers to CONFLICT', async () => {
    const url = await server.newDatabase('race');
    const [a, b] = [await openAt(url), await openAt(url)];
    try {
      // Two registries (two processes, in effect) pass their duplicate checks at once;
      // the primary key decides, and the loser reads CONFLICT like a plain duplicate.
      const results = await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).createVendor({ id: 'aqua', name: `AquaScale ${i}` })),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'CONFLICT' });
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('lets processes that open a fresh database at once all succeed under withRegistryMigrationLock', async () => {
    const url = await server.newDatabase('first_start');
    const opened = await Promise.all([0, 1, 2].map(() => withRegistryMigrationLock(url, () => openAt(url))));
    try {
      await opened[0]!.createVendor({ id: 'aqua', name: 'AquaScale' });
      expect(await opened[2]!.getVendor('aqua')).toMatchObject({ name: 'AquaScale' });
    } finally {
      for (const r of opened) await r.close();
    }
  });

  it.todo('a device created through one registry reaches another process\'s directory after NOTIFY + reload() (needs stores/sql support)');
});

describe('PostgreSQL SqlClient', () => {
  it('returns numbers for BIGINT and NUMERIC, strings beyond the safe range, and booleans', async () => {
    const sql = await openPostgresSqlClient(await server.newDatabase('client'));
    try {
      await sql.query('CREATE TABLE t (id TEXT PRIMARY KEY, t_ms BIGINT NOT NULL, ok BOOLEAN, n INTEGER)');
      await sql.query('INSERT INTO t VALUES ($1, $2, $3, $4)', ['a', 1_700_000_000_000, true, 7]);
      await sql.query('INSERT INTO t VALUES ($1, $2, $3, $4)', ['b', 9_007_199_254_740_991n, null, null]);
      expect(await sql.query('SELECT id, t_ms, ok, n FROM t ORDER BY id')).toEqual([
        { id: 'a', t_ms: 1_700_000_000_000, ok: true, n: 7 },
        { id: 'b', t_ms: Number.MAX_SAFE_INTEGER, ok: null, n: null },
      ]);
      expect(await sql.query('SELECT 9007199254740993::BIGINT AS big, (-9007199254740993)::BIGINT AS small')).toEqual([
        { big: '9007199254740993', small: '-9007199254740993' },
      ]);
      expect(await sql.query('SELECT count(*) AS c, sum(t_ms) AS s, max(t_ms) AS m FROM t WHERE id = $1', ['a'])).toEqual([
        { c: 1, s: 1_700_000_000_000, m: 1_700_000_000_000 },
      ]);
      expect(await sql.query("SELECT 2.5::NUMERIC AS x, 12345678901234567890.5::NUMERIC AS y, 'NaN'::NUMERIC AS z, ARRAY[1, 2]::BIGINT[] AS arr")).toEqual([
        { x: 2.5, y: '12345678901234567890.5', z: 'NaN', arr: [1, 2] },
      ]);
      expect([parseNumeric('0.1'), parseNumeric('-12.50'), parseNumeric('1e3'), parseNumeric('0.1234567890123456789')]).toEqual([
        0.1, -12.5, 1000, '0.1234567890123456789',
      ]);
      await expect(sql.query('SELECT $1 AS x', [{ no: 'objects' }])).rejects.toMatchObject({ code: 'INTERNAL' });
    } finally {
      await sql.close();
    }
  });

  it('maps a unique violation to CONFLICT, rolls back a failed transaction, and does not interleave it', async () => {
    const sql = await openPostgresSqlClient(await server.newDatabase('client'), { max: 4 });
    try {
      await sql.query('CREATE TABLE t (id TEXT PRIMARY KEY, t_ms BIGINT NOT NULL, digest TEXT UNIQUE)');
      await sql.query('INSERT INTO t VALUES ($1, $2, $3)', ['a', 1, 'd1']);
      await expect(sql.query('INSERT INTO t VALUES ($1, $2, $3)', ['a', 2, 'd2'])).rejects.toMatchObject({ code: 'CONFLICT', name: 'HubError' });
      await expect(sql.query('INSERT INTO t VALUES ($1, $2, $3)', ['b', 2, 'd1'])).rejects.toMatchObject({ code: 'CONFLICT' });
      // Any other error is passed through untouched.
      await expect(sql.query('SELECT nope FROM t')).rejects.toMatchObject({ code: '42703' });

      await expect(
        sql.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES ($1, $2, $3)', ['b', 2, 'd2']);
          throw new Error('boom');
        }),
      ).rejects.toThrow('boom');
      // A CONFLICT inside a transaction rolls back everything before it, too.
      await expect(
        sql.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES ($1, $2, $3)', ['c', 3, 'd3']);
          await tx.transaction((joined) => joined.query('INSERT INTO t VALUES ($1, $2, $3)', ['a', 4, 'd4']));
        }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await sql.query('SELECT id FROM t ORDER BY id')).toEqual([{ id: 'a' }]);
      expect(await sql.transaction(async (tx) => (await tx.query('INSERT INTO t VALUES ($1, $2, $3) RETURNING t_ms', ['e', 5, null]))[0])).toEqual({ t_ms: 5 });

      // Outside statements meanwhile neither join the open transaction nor see it.
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let inserted!: () => void;
      const started = new Promise<void>((r) => (inserted = r));
      const tx = sql.transaction(async (t) => {
        await t.query('INSERT INTO t VALUES ($1, $2, $3)', ['f', 6, null]);
        inserted();
        await gate;
        throw new Error('rolled back');
      });
      await started;
      expect(await sql.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 2 }]);
      release();
      await expect(tx).rejects.toThrow('rolled back');
      expect(await sql.query('SELECT count(*) AS n FROM t')).toEqual([{ n: 2 }]);
    } finally {
      await sql.close();
    }
  });

  it('runs check-then-write transactions as if one after another (SERIALIZABLE, retried)', async () => {
    // The registry's invariants without a constraint behind them (no overlapping
    // assignment for a device, a trial's status moving one way) are a read followed by
    // a write in one transaction. Under READ COMMITTED all four writers below would pass
    // the check; here exactly one does and the others, retried, see its row.
    const sql = await openPostgresSqlClient(await server.newDatabase('client'), { max: 8 });
    try {
      await sql.query('CREATE TABLE assignment (id TEXT PRIMARY KEY, device_id TEXT NOT NULL)');
      let attempts = 0;
      let reads = 0;
      let allRead!: () => void;
      const barrier = new Promise<void>((r) => (allRead = r));
      const results = await Promise.allSettled(
        [0, 1, 2, 3].map((i) =>
          sql.transaction(async (tx) => {
            attempts++;
            const others = await tx.query('SELECT 1 FROM assignment WHERE device_id = $1', ['D-1']);
            // All four have read before any writes: the worst case, every time.
            if (++reads === 4) allRead();
            await barrier;
            if (others.length > 0) throw new Error('overlap');
            await tx.query('INSERT INTO assignment VALUES ($1, $2)', [`asg-${i}`, 'D-1']);
          }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) if (r.status === 'rejected') expect(String(r.reason)).toContain('overlap');
      expect(await sql.query('SELECT count(*) AS n FROM assignment')).toEqual([{ n: 1 }]);
      expect(attempts).toBe(7);
    } finally {
      await sql.close();
    }
  });

  it('closes idempotently, answers STORE_UNAVAILABLE after close, and fails at open on a dead server', async () => {
    const sql = await openPostgresSqlClient(await server.newDatabase('client'));
    await sql.close();
    await sql.close();
    await expect(sql.query('SELECT 1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(sql.transaction(async () => 1)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    await expect(openPostgresSqlClient('postgres://postgres@127.0.0.1:1/none')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});

describe('watchRegistryChanges (LISTEN/NOTIFY)', () => {
  it('calls onChange in one session for a NOTIFY committed in another, and never for a rollback', async () => {
    const url = await server.newDatabase('watch');
    const seen = inbox<string>();
    const watch = await watchRegistryChanges(url, (payload) => seen.push(payload));
    const sql = await openPostgresSqlClient(url);
    try {
      await sql.query(`NOTIFY ${REGISTRY_CHANNEL}`);
      expect(await seen.next()).toBe('');
      await sql.query("SELECT pg_notify('some_other_channel', 'x')");
      await expect(
        sql.transaction(async (tx) => {
          await notifyRegistryChange(tx, 'rolled-back');
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      await sql.transaction(async (tx) => {
        await notifyRegistryChange(tx, 'devices');
        await notifyRegistryChange(tx, 'devices'); // same payload in one transaction: delivered once
      });
      expect(await seen.next()).toBe('devices');
      await sql.query(`NOTIFY ${REGISTRY_CHANNEL}, 'tokens'`);
      expect(await seen.next()).toBe('tokens');
      expect(seen.pending).toBe(0);
    } finally {
      await watch.close();
      await watch.close();
      await sql.close();
    }
  });

  it('reconnects after losing its session, reports the gap as a change, and keeps listening', async () => {
    const url = await server.newDatabase('watch');
    const seen = inbox<string>();
    const errors: unknown[] = [];
    const watch = await watchRegistryChanges(url, (payload) => seen.push(payload), { retryMs: 50, heartbeatMs: 50, onError: (e) => errors.push(e) });
    const sql = await openPostgresSqlClient(url);
    try {
      const killed = await sql.query<{ ok: boolean }>(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'arena-registry-watch' AND datname = current_database()",
      );
      expect(killed).toEqual([{ ok: true }]);
      // Notifications sent while it was away are lost, so the reconnect itself reads as "anything changed".
      expect(await seen.next()).toBe('');
      expect(errors.length).toBeGreaterThan(0);
      await sql.query(`NOTIFY ${REGISTRY_CHANNEL}, 'after'`);
      expect(await seen.next()).toBe('after');
    } finally {
      await watch.close();
      await sql.close();
    }
  });

  it('fails at once when the first connection fails, and survives a throwing onChange', async () => {
    await expect(watchRegistryChanges('postgres://postgres@127.0.0.1:1/none', () => undefined)).rejects.toThrow();
    const url = await server.newDatabase('watch');
    const errors: unknown[] = [];
    const seen = inbox<string>();
    const watch = await watchRegistryChanges(
      url,
      (payload) => {
        seen.push(payload);
        if (payload === 'throw') throw new Error('listener failed');
      },
      { onError: (e) => errors.push(e) },
    );
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query(`NOTIFY ${REGISTRY_CHANNEL}, 'throw'`);
      expect(await seen.next()).toBe('throw');
      await admin.query(`NOTIFY ${REGISTRY_CHANNEL}, 'next'`);
      expect(await seen.next()).toBe('next');
      expect(errors).toEqual([expect.objectContaining({ message: 'listener failed' })]);
    } finally {
      await admin.end();
      await watch.close();
    }
  });

  it('with the triggers installed, a registry write in one process reaches a watcher in another, per table', async () => {
    const url = await server.newDatabase('triggers');
    const api = await openSqlRegistry(await openPostgresSqlClient(url), { profiles });
    const sql = await openPostgresSqlClient(url);
    // Several processes install at start-up, at once: idempotent and serialised.
    const [first] = await Promise.all([installRegistryNotifyTriggers(sql), installRegistryNotifyTriggers(sql), installRegistryNotifyTriggers(sql)]);
    expect(first.installed).toEqual(expect.arrayContaining(['devices', 'api_tokens']));
    const seen = inbox<string>();
    const broker = await watchRegistryChanges(url, (payload) => seen.push(payload));
    try {
      await api.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' }); // not a cached table: no notification
      await api.createVendor({ id: 'aqua', name: 'AquaScale' });
      await api.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', siteId: 'site-a' });
      expect(await seen.next()).toBe('devices');
      await api.setDeviceActive('AQ-1', false);
      expect(await seen.next()).toBe('devices');
      await api.rotateDeviceSecret('AQ-1');
      expect(await seen.next()).toBe('devices');
      const t = await api.issueToken({ role: 'admin', label: 'ops', expiresAt: null });
      expect(await seen.next()).toBe('api_tokens');
      await api.revokeToken(t.id);
      expect(await seen.next()).toBe('api_tokens');
      // A refused write (rolled back) notifies nobody.
      await expect(api.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale' })).rejects.toMatchObject({ code: 'CONFLICT' });
      await sql.transaction(async (tx) => {
        await tx.query("UPDATE devices SET label = 'a' WHERE id = 'AQ-1'");
        await tx.query("UPDATE devices SET label = 'b' WHERE id = 'AQ-1'");
      });
      expect(await seen.next()).toBe('devices'); // once per table per transaction
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.pending).toBe(0);
      // Installing again replaces, never doubles, the triggers.
      await installRegistryNotifyTriggers(sql);
      await sql.query("UPDATE api_tokens SET label = 'x'");
      expect(await seen.next()).toBe('api_tokens');
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.pending).toBe(0);
    } finally {
      await broker.close();
      await sql.close();
      await api.close();
    }
  });

  it('coalesces a burst of notifications into one running reload plus one more', async () => {
    let runs = 0;
    let release!: () => void;
    const reloads = inbox<number>();
    const onChange = coalesceReloads(async () => {
      runs++;
      if (runs === 1) await new Promise<void>((r) => (release = r));
      reloads.push(runs);
    });
    onChange();
    for (let i = 0; i < 10; i++) onChange();
    release();
    expect(await reloads.next()).toBe(1);
    expect(await reloads.next()).toBe(2);
    await new Promise((r) => setTimeout(r, 20));
    expect(runs).toBe(2);
  });
});
