/** The store's tables, and the one-time rewrites of files made by older releases. */
import type { DuckDBConnection } from '@duckdb/node-api';
import { hasPointRanges, POINT_RANGES_DDL, rebuildPointRanges } from './point-ranges.js';
import { asNumber } from './rows.js';

/**
 * The messages table, without a key. status is 'accepted' or 'rejected'; device_time the
 * earliest device time of its points (NULL for a rejected message). Column order
 * matters: appendStagedMessage() appends in this order.
 */
export const MESSAGES_COLUMNS = `id UBIGINT NOT NULL, device_id VARCHAR NOT NULL, received_at BIGINT NOT NULL,
  status VARCHAR NOT NULL, device_time BIGINT`;

export const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS messages (${MESSAGES_COLUMNS})`,
  // Column order matters: appendPoint() appends in exactly this order.
  `CREATE TABLE IF NOT EXISTS points (
     message_id UBIGINT NOT NULL,
     seq INTEGER NOT NULL,
     kind VARCHAR NOT NULL,
     device_id VARCHAR NOT NULL,
     profile_id VARCHAR NOT NULL,
     family VARCHAR NOT NULL,
     site_id VARCHAR,
     room_id VARCHAR,
     trial_id VARCHAR,
     participant_id VARCHAR,
     name VARCHAR NOT NULL,
     value DOUBLE,
     unit VARCHAR,
     alert_code VARCHAR,
     dispense_code VARCHAR,
     severity INTEGER,
     attributes VARCHAR, -- JSON text: events, and readings of profiles that keep unmapped fields
     device_time BIGINT NOT NULL,
     received_at BIGINT NOT NULL,
     clock_skewed BOOLEAN NOT NULL
   )`,
  // Column order matters: appendRejection() appends in exactly this order.
  `CREATE TABLE IF NOT EXISTS rejections (
     message_id UBIGINT NOT NULL,
     device_id VARCHAR NOT NULL,
     profile_id VARCHAR,
     topic VARCHAR NOT NULL,
     code VARCHAR NOT NULL,
     path VARCHAR NOT NULL,
     message VARCHAR NOT NULL,
     payload VARCHAR NOT NULL,
     received_at BIGINT NOT NULL
   )`,
  // Attribution of rejections, added after the first release: a file made before it gets
  // the columns when opened (at the end, where appendRejection() expects them). The
  // payload becomes NULL when its participant's data is erased.
  ...['site_id', 'room_id', 'trial_id', 'participant_id'].map((c) => `ALTER TABLE rejections ADD COLUMN IF NOT EXISTS ${c} VARCHAR`),
  'ALTER TABLE rejections ALTER COLUMN payload DROP NOT NULL',
  // The profile version that decoded each point, added after the first release (NULL on older points), at the end where appendPoint() puts it.
  'ALTER TABLE points ADD COLUMN IF NOT EXISTS profile_version VARCHAR',
];

/**
 * Connection-local: one batch's message ids, made anew by each write. DuckDB never gives
 * back the space of rows deleted from a temporary table (only a checkpoint vacuums, and
 * the temporary catalogue has none), and counts them in its row estimate: emptied with
 * DELETE, it grew by every message ever written (about 40 bytes each), and once it
 * looked larger than the dedup window the repeat check built its hash table on the
 * window's messages instead of the batch. At 48MB every commit was refused from 630 k
 * messages on ("could not allocate block"). Replaced, it is freed whole.
 */
export const STAGING = `CREATE OR REPLACE TEMP TABLE staged_messages (${MESSAGES_COLUMNS})`;

/**
 * Files written before the dedup window kept `messages` under a primary key, an index
 * DuckDB holds wholly in memory (about 45 bytes a message): rewritten once at open,
 * in receive order, with each message's earliest device time taken from its points.
 */
export const MIGRATE_KEYED_MESSAGES = [
  `CREATE TABLE messages_unkeyed (${MESSAGES_COLUMNS})`,
  `INSERT INTO messages_unkeyed
     SELECT m.id, m.device_id, m.received_at, m.status, p.device_time
     FROM messages m LEFT JOIN (SELECT message_id, min(device_time) AS device_time FROM points GROUP BY message_id) p
       ON p.message_id = m.id
     ORDER BY m.received_at`,
  'DROP TABLE messages',
  'ALTER TABLE messages_unkeyed RENAME TO messages',
];

/** Rewrites a keyed `messages` table of an older file without its key (MIGRATE_KEYED_MESSAGES). */
export async function migrateKeyedMessages(c: DuckDBConnection): Promise<void> {
  const keyed = await c.runAndReadAll(`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'messages' AND constraint_type = 'PRIMARY KEY'`);
  if (asNumber(keyed.getRows()[0]?.[0]) === 0) return;
  await c.run('BEGIN TRANSACTION');
  try {
    for (const sql of MIGRATE_KEYED_MESSAGES) await c.run(sql);
    await c.run('COMMIT');
  } catch (e) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw e;
  }
  await c.run('CHECKPOINT'); // hand the old index's blocks back now, not at the next automatic checkpoint
}

/** A file made before `point_ranges` gets it filled from its points, once, when opened. */
export async function migratePointRanges(c: DuckDBConnection): Promise<void> {
  if (await hasPointRanges(c)) return;
  await c.run('BEGIN TRANSACTION');
  try {
    await c.run(POINT_RANGES_DDL);
    await rebuildPointRanges(c);
    await c.run('COMMIT');
  } catch (e) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw e;
  }
}
