import { migrate as runMigrations, type Migration, type SqlClient } from '../../kernel/sql.js';

export type { Migration };

/**
 * Numbered, append-only schema migrations. A released migration is never edited: a
 * change is a new entry. Portable SQL only (TEXT, BIGINT, BOOLEAN, INTEGER), because
 * the same list runs on DuckDB and on PostgreSQL 15. Each statement is its own string
 * since pg refuses several statements in one parameterised call.
 *
 * No FOREIGN KEY clauses, on purpose: DuckDB refuses `UPDATE ... RETURNING` (and some
 * updates inside a transaction) on any row a foreign key points at, even when the key
 * column is untouched, so a later table referencing devices would break
 * setDeviceActive. References are checked by the registry inside the write
 * transaction instead, and the registry never deletes a row.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'sites, rooms, vendors, devices',
    statements: [
      `CREATE TABLE IF NOT EXISTS sites (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS rooms (
        id TEXT PRIMARY KEY,
        site_id TEXT NOT NULL,
        name TEXT NOT NULL,
        beds INTEGER NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS vendors (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS devices (
        id TEXT PRIMARY KEY,
        vendor_id TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        site_id TEXT,
        room_id TEXT,
        label TEXT NOT NULL,
        active BOOLEAN NOT NULL,
        secret_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    version: 2,
    name: 'api tokens',
    statements: [
      // Bindings are JSON arrays in TEXT: portable, and they are only read into memory.
      `CREATE TABLE IF NOT EXISTS api_tokens (
        id TEXT PRIMARY KEY,
        digest TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        vendor_id TEXT,
        site_ids TEXT NOT NULL,
        trial_ids TEXT NOT NULL,
        label TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        expires_at BIGINT,
        revoked_at BIGINT
      )`,
    ],
  },
  {
    version: 3,
    name: 'trials, participants, assignments, consents',
    statements: [
      `CREATE TABLE IF NOT EXISTS trials (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        site_id TEXT NOT NULL,
        protocol_ref TEXT NOT NULL,
        starts_at BIGINT NOT NULL,
        ends_at BIGINT NOT NULL,
        baseline_from BIGINT,
        baseline_to BIGINT,
        status TEXT NOT NULL,
        research_device_data BOOLEAN NOT NULL,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS trial_vendors (
        trial_id TEXT NOT NULL,
        vendor_id TEXT NOT NULL,
        PRIMARY KEY (trial_id, vendor_id)
      )`,
      // A participant row holds the pseudonym only: no name, birth date or national id.
      `CREATE TABLE IF NOT EXISTS participants (
        id TEXT PRIMARY KEY,
        trial_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        erased_at BIGINT
      )`,
      `CREATE TABLE IF NOT EXISTS assignments (
        id TEXT PRIMARY KEY,
        trial_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        participant_id TEXT NOT NULL,
        room_id TEXT,
        bed INTEGER,
        starts_at BIGINT NOT NULL,
        ends_at BIGINT,
        created_at BIGINT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS consents (
        id TEXT PRIMARY KEY,
        participant_id TEXT NOT NULL,
        scope TEXT NOT NULL,
        granted_at BIGINT NOT NULL,
        withdrawn_at BIGINT,
        form_version TEXT NOT NULL,
        recorded_at BIGINT NOT NULL
      )`,
    ],
  },
  {
    version: 4,
    name: 'audit log, exports',
    statements: [
      // Append-only: the registry has no UPDATE or DELETE on this table. seq is the
      // primary key, so two writers racing for the same position cannot both succeed.
      `CREATE TABLE IF NOT EXISTS audit_log (
        seq BIGINT PRIMARY KEY,
        at_ms BIGINT NOT NULL,
        actor_role TEXT NOT NULL,
        actor_token TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
      )`,
      `CREATE TABLE IF NOT EXISTS exports (
        id TEXT PRIMARY KEY,
        trial_id TEXT NOT NULL,
        audience TEXT NOT NULL,
        vendor_id TEXT,
        token_id TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        manifest TEXT NOT NULL
      )`,
    ],
  },
  {
    version: 6,
    name: 'trials: intervention start',
    statements: ['ALTER TABLE trials ADD COLUMN IF NOT EXISTS intervention_from BIGINT'],
  },
];

/** Applies the registry's migrations (or `migrations`, on their own `ledger`) not yet applied (kernel/sql.ts). */
export const migrate = (
  sql: SqlClient,
  now: () => number = Date.now,
  migrations: readonly Migration[] = MIGRATIONS,
  ledger = 'schema_migrations',
): Promise<number[]> => runMigrations(sql, migrations, ledger, now);
