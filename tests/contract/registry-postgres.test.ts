import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySecret } from '../../kernel/secrets.js';
import { openSharedRegistry } from '../../service/adapters.js';
import { createLogger } from '../../kernel/log.js';
import { REGISTRY_CACHED_TABLES, REGISTRY_CHANNEL, withRegistryMigrationLock } from '../../stores/postgres/registry-changes.js';
import { openSharedPostgresRegistry } from '../../stores/postgres/shared-registry.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { MIGRATIONS } from '../../stores/sql/migrations.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';
import { contractProfiles, registryContract, seedBeforeReopen } from './registry.contract.js';
import { until } from '../helpers/poll.js';
import { rejectsWith } from '../helpers/errors.js';

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

describe('registry on PostgreSQL', () => {
  it('keeps everything across close and reopen, and migrates only once', async () => {
    const url = await server.newDatabase('reopen');
    const first = await openAt(url);
    const { secret, kept, revoked } = await seedBeforeReopen(first);
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
      const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? a : b).createVendor({ id: 'aqua', name: `AquaScale ${i}` })));
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
});

const quiet = createLogger('silent');
/** As one split service opens it (service/adapters.ts), on its own connections. */
const openShared = (url: string) => openSharedRegistry({ registryUrl: url, store: { kind: 'duckdb' } }, profiles, quiet);

// The registry every split service runs (LISTEN/NOTIFY freshness, migration lock, triggers)
// keeps the same contract; a database each, since notifications are per database.
registryContract('shared postgres, as the split services open it', async () => openShared(await server.newDatabase('shared')));

/**
 * A SqlClient that can hold a statement's answer back after the database has run it:
 * a commit the process has not yet seen, or a reload paused between its read and its swap.
 */
function holdingClient(sql: SqlClient) {
  type Hold = { match: (statement: string, readOnly: boolean) => boolean; reached: () => void; release: Promise<void> };
  const holds: Hold[] = [];
  let snapshotReads = 0;
  const pass = async <T>(statement: string, readOnly: boolean, result: T): Promise<T> => {
    const i = holds.findIndex((h) => h.match(statement, readOnly));
    if (i >= 0) {
      const [h] = holds.splice(i, 1);
      h!.reached();
      await h!.release;
    }
    return result;
  };
  const client: SqlClient = {
    query: async (statement, params) => pass(statement, false, await sql.query(statement, params)),
    transaction: async (fn, opts) => {
      if (opts?.readOnly) snapshotReads++;
      return pass('', opts?.readOnly === true, await sql.transaction(fn, opts));
    },
    close: () => sql.close(),
  };
  return {
    client,
    get snapshotReads() {
      return snapshotReads;
    },
    /** Holds the answer of the next statement that matches; resolves `reached` once it is held. */
    hold(match: Hold['match']) {
      let reached!: () => void;
      let release!: () => void;
      const reachedP = new Promise<void>((r) => (reached = r));
      holds.push({ match, reached, release: new Promise<void>((r) => (release = r)) });
      return { reached: reachedP, release };
    },
  };
}

describe('registry freshness across processes (PostgreSQL)', () => {
  it('a device created, re-keyed and deactivated, and a token issued and revoked, in one process reach another', async () => {
    const url = await server.newDatabase('fresh');
    const [api, broker] = await Promise.all([openShared(url), openShared(url)]);
    try {
      await api.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
      await api.createVendor({ id: 'aqua', name: 'AquaScale' });
      const { secret } = await api.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', siteId: 'site-a' });
      await until('the broker knows AQ-1', async () => (await broker.directory.credentials('AQ-1')) !== undefined);
      expect(await verifySecret(secret, (await broker.directory.credentials('AQ-1'))!.secretHash)).toBe(true);
      expect(broker.directory.profileOf('AQ-1')).toBe('aquascale');

      const rotated = await api.rotateDeviceSecret('AQ-1');
      await until('the broker has the new secret', async () => verifySecret(rotated, (await broker.directory.credentials('AQ-1'))!.secretHash));
      expect(await verifySecret(secret, (await broker.directory.credentials('AQ-1'))!.secretHash)).toBe(false);

      await api.setDeviceActive('AQ-1', false);
      await until('the broker sees AQ-1 inactive', async () => (await broker.directory.credentials('AQ-1'))!.active === false);

      const t = await api.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'aqua ci', expiresAt: null });
      await until('the other process verifies the token', async () => (await broker.verifyToken(t.token, Date.now())) !== undefined);
      expect(await broker.verifyToken(t.token, Date.now())).toEqual({ role: 'vendor', tokenId: t.id, vendorId: 'aqua' });
      await broker.revokeToken(t.id); // the other way round too
      await until('the API refuses the revoked token', async () => (await api.verifyToken(t.token, Date.now())) === undefined);
      expect(await api.hasAdminToken()).toBe(false);
    } finally {
      await api.close();
      await broker.close();
    }
  });

  it('attribution follows trials, assignments and erasure made in another process', async () => {
    const url = await server.newDatabase('fresh');
    const [api, ingest] = await Promise.all([openShared(url), openShared(url)]);
    try {
      await api.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
      await api.createRoom({ id: 'room-1', siteId: 'site-a', name: 'Room 1', beds: 1 });
      await api.createVendor({ id: 'aqua', name: 'AquaScale' });
      await api.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', siteId: 'site-a' });
      await api.createTrial({
        id: 'trial-1',
        name: 'Trial 1',
        siteId: 'site-a',
        vendorIds: ['aqua'],
        protocolRef: 'REK 1',
        period: { from: 0, to: 86_400_000 },
      });
      await until('ingest attributes device data to the trial', () => ingest.directory.attribution('AQ-1', 500).trialId === 'trial-1');
      await api.enrolParticipant({ id: 'P-1', trialId: 'trial-1' });
      await api.createAssignment({ trialId: 'trial-1', deviceId: 'AQ-1', participantId: 'P-1', roomId: 'room-1', from: 1_000 });
      await until('ingest attributes to the participant', () => ingest.directory.attribution('AQ-1', 5_000).participantId === 'P-1');
      expect(ingest.directory.attribution('AQ-1', 5_000)).toEqual({ siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1', participantId: 'P-1' });
      await api.markErased('P-1', 10_000);
      await until('ingest stops attributing to the erased participant', () => ingest.directory.attribution('AQ-1', 20_000).participantId === null);
      expect(ingest.directory.attribution('AQ-1', 5_000).participantId).toBe('P-1');
    } finally {
      await api.close();
      await ingest.close();
    }
  });

  it('a failed reload keeps the old caches and rejects; a later one catches up', async () => {
    const url = await server.newDatabase('fresh');
    const writer = await openAt(url);
    const sql = await openPostgresSqlClient(url);
    const reader = await openSqlRegistry(sql, { profiles });
    const admin = await openPostgresSqlClient(url);
    try {
      await writer.createVendor({ id: 'aqua', name: 'AquaScale' });
      await writer.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale' });
      const t = await writer.issueToken({ role: 'admin', label: 'ops', expiresAt: null });
      await reader.reload();
      expect(await reader.directory.credentials('AQ-1')).toBeDefined();

      await writer.createDevice({ id: 'AQ-2', vendorId: 'aqua', profileId: 'aquascale' });
      await writer.revokeToken(t.id);
      // Devices and tokens read fine; the last table fails. Nothing of the read may show.
      await admin.query('ALTER TABLE assignments RENAME TO assignments_away');
      await expect(reader.reload()).rejects.toThrow(/assignments/);
      expect(await reader.directory.credentials('AQ-1')).toBeDefined();
      expect(await reader.directory.credentials('AQ-2')).toBeUndefined();
      expect(await reader.verifyToken(t.token, Date.now())).toMatchObject({ role: 'admin' });

      await admin.query('ALTER TABLE assignments_away RENAME TO assignments');
      await reader.reload();
      expect(await reader.directory.credentials('AQ-2')).toBeDefined();
      expect(await reader.verifyToken(t.token, Date.now())).toBeUndefined();

      // The SQL connection gone: the reload rejects, and the caches keep answering.
      await sql.close();
      await expect(reader.reload()).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
      expect(await reader.directory.credentials('AQ-2')).toBeDefined();
    } finally {
      await admin.close();
      await reader.close();
      await writer.close();
    }
  });

  it('keeps a local write that commits while a reload is between its read and its swap', async () => {
    const url = await server.newDatabase('fresh');
    const held = holdingClient(await openPostgresSqlClient(url));
    const reg = await openSqlRegistry(held.client, { profiles });
    try {
      await reg.createVendor({ id: 'aqua', name: 'AquaScale' });
      const reads = held.snapshotReads;
      const paused = held.hold((_, readOnly) => readOnly);
      const reload = reg.reload();
      await paused.reached; // read done, not swapped: AQ-1 is not in it
      await reg.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale' });
      const t = await reg.issueToken({ role: 'admin', label: 'ops', expiresAt: null });
      paused.release();
      await reload;
      expect(held.snapshotReads - reads).toBe(2); // it saw the write-throughs and read again
      expect(await reg.directory.credentials('AQ-1')).toBeDefined();
      expect(await reg.verifyToken(t.token, Date.now())).toMatchObject({ role: 'admin' });
    } finally {
      await reg.close();
    }
  });

  it('reads again after a local write-through lands on a newer snapshot from another process', async () => {
    const url = await server.newDatabase('fresh');
    const held = holdingClient(await openPostgresSqlClient(url));
    const errors: unknown[] = [];
    const here = await openSqlRegistry(held.client, { profiles, onReloadError: (e) => errors.push(e) });
    const there = await openAt(url);
    try {
      await here.createVendor({ id: 'aqua', name: 'AquaScale' });
      await here.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale' });
      // Here deactivates; the database commits it, but this process sees the answer late.
      const late = held.hold((statement) => statement.startsWith('UPDATE devices SET active'));
      const deactivating = here.setDeviceActive('AQ-1', false);
      await late.reached;
      // Meanwhile another process reactivates (a later commit), and here reloads that state.
      await there.setDeviceActive('AQ-1', true);
      await here.reload();
      expect((await here.directory.credentials('AQ-1'))!.active).toBe(true);
      // Now the late write-through would put the older "inactive" back over it, for good.
      late.release();
      await deactivating;
      await until('here reads the newer state again', async () => (await here.directory.credentials('AQ-1'))!.active === true);
      expect(errors).toEqual([]);
    } finally {
      await there.close();
      await here.close();
    }
  });

  it('three services starting at once on an empty database all open, with one schema and one set of triggers', async () => {
    const url = await server.newDatabase('first_start');
    const opened = await Promise.all([0, 1, 2].map(() => openShared(url)));
    const sql = await openPostgresSqlClient(url);
    try {
      expect(await sql.query('SELECT version FROM schema_migrations ORDER BY version')).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      const triggers = await sql.query<{ table: string }>(
        `SELECT c.relname AS table FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = $1 ORDER BY c.relname`,
        [`${REGISTRY_CHANNEL}_notify`],
      );
      expect(triggers.map((r) => r.table)).toEqual([...REGISTRY_CACHED_TABLES].sort());
      await opened[0]!.createVendor({ id: 'aqua', name: 'AquaScale' });
      await opened[0]!.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale' });
      for (const r of opened.slice(1)) await until('every service sees AQ-1', async () => (await r.directory.credentials('AQ-1')) !== undefined);
    } finally {
      await sql.close();
      for (const r of opened) await r.close();
    }
  });

  it('retries a failed reload until it succeeds, and catches up after its LISTEN session was lost', async () => {
    const url = await server.newDatabase('fresh');
    const errors: unknown[] = [];
    const api = await openShared(url);
    const broker = await openSharedPostgresRegistry(url, { profiles, onError: (e) => errors.push(e), reloadRetryMs: 20, watch: { retryMs: 50 } });
    const admin = await openPostgresSqlClient(url);
    try {
      await api.createVendor({ id: 'aqua', name: 'AquaScale' });
      await admin.query('ALTER TABLE assignments RENAME TO assignments_away');
      await api.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale' });
      await until('the reload failed and was reported', () => errors.length > 0);
      expect(await broker.directory.credentials('AQ-1')).toBeUndefined();
      // No further notification comes: the retry alone must bring AQ-1.
      await admin.query('ALTER TABLE assignments_away RENAME TO assignments');
      await until('the retried reload succeeds', async () => (await broker.directory.credentials('AQ-1')) !== undefined);

      const killed = await admin.query(
        "SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = 'arena-registry-watch' AND datname = current_database()",
      );
      expect(killed.length).toBe(2);
      await api.setDeviceActive('AQ-1', false);
      await until('the broker sees AQ-1 inactive', async () => (await broker.directory.credentials('AQ-1'))!.active === false);
    } finally {
      await admin.close();
      await broker.close();
      await api.close();
    }
  });

  it('closes everything it opened, and a failed open leaves no connection behind', async () => {
    const sessionsIn = async (url: string): Promise<number> => {
      const sql = await openPostgresSqlClient(url);
      try {
        const [row] = await sql.query<{ n: number }>(
          'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
        );
        return Number(row!.n);
      } finally {
        await sql.close();
      }
    };
    const url = await server.newDatabase('fresh');
    const reg = await openShared(url);
    expect(await sessionsIn(url)).toBeGreaterThan(0);
    await reg.close();
    await until('no session of the closed registry is left', async () => (await sessionsIn(url)) === 0);

    // Migrated as far as the ledger says, but the devices table is not what it claims: the load fails after LISTEN began.
    const broken = await server.newDatabase('broken');
    const sql = await openPostgresSqlClient(broken);
    await sql.query('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)');
    for (const m of MIGRATIONS) await sql.query('INSERT INTO schema_migrations VALUES ($1, $2, 0)', [m.version, m.name]);
    await sql.query('CREATE TABLE devices (id TEXT PRIMARY KEY)');
    await sql.close();
    await expect(openShared(broken)).rejects.toThrow(/vendor_id/);
    await until('the failed open left no session', async () => (await sessionsIn(broken)) === 0);
    await rejectsWith(
      openSharedRegistry({ registryUrl: 'postgres://postgres@127.0.0.1:1/none', store: { kind: 'duckdb' } }, profiles, quiet),
      'STORE_UNAVAILABLE',
    );
  });
});
