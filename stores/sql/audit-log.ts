import {
  GENESIS,
  auditHead,
  entryHash,
  verifyChain,
  type AuditEntry,
  type AuditHead,
  type AuditLog,
  type Json,
  type NewAuditEntry,
} from '../../kernel/audit.js';
import { isHubError } from '../../kernel/errors.js';
import type { Migration } from './migrations.js';
import type { SqlClient } from './sql-client.js';

/**
 * The head checkpoint's table, on a migration ledger of its own (like alarms/store.ts),
 * so the audit log's schema changes independently of the registry's.
 */
export const AUDIT_LEDGER = 'audit_migrations';
export const AUDIT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'audit head checkpoint',
    // One row (id 1): the last seq and hash, with their HMAC; rewritten in every append's transaction.
    statements: ['CREATE TABLE IF NOT EXISTS audit_head (id INTEGER PRIMARY KEY, seq BIGINT NOT NULL, hash TEXT NOT NULL, mac TEXT NOT NULL)'],
  },
];

interface AuditRow {
  seq: number;
  at_ms: number;
  actor_role: string;
  actor_token: string | null;
  action: string;
  target: string;
  detail: string;
  prev_hash: string;
  hash: string;
}
const COLUMNS = 'seq, at_ms, actor_role, actor_token, action, target, detail, prev_hash, hash';
const PAGE = 1000;
const RACE_RETRIES = 5;
/** Entries written in one transaction at most. */
const MAX_BATCH = 500;

/** Another process appending at the same moment makes the seq insert CONFLICT: the batch is retried on the new tail. */
async function withRaceRetries<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await write();
    } catch (e) {
      if (!isHubError(e) || e.code !== 'CONFLICT' || attempt >= RACE_RETRIES) throw e;
    }
  }
}

/** How many times verify() reads on when the head names entries appended during the walk. */
const HEAD_CATCH_UPS = 3;

const toEntry = (r: AuditRow): AuditEntry => ({
  seq: Number(r.seq),
  at: Number(r.at_ms),
  actor: { role: r.actor_role as AuditEntry['actor']['role'], tokenId: r.actor_token },
  action: r.action,
  target: r.target,
  detail: JSON.parse(r.detail) as { [key: string]: Json },
  prevHash: r.prev_hash,
  hash: r.hash,
});

/**
 * The audit log in the registry's SQL store. Only INSERT and SELECT touch its table; the
 * head checkpoint (audit_head, AUDIT_MIGRATIONS) is rewritten in the same transaction as
 * the entries, so the two never disagree after a crash. `key`: the HMAC key, never stored here.
 *
 * Appends made while one is being written wait together and go in the next transaction
 * (group commit): a burst of refusals costs one transaction, and a request that must be
 * audited before it is answered (a live stream's start) waits for at most one batch.
 */
export function sqlAuditLog(sql: SqlClient, now: () => number, key: Buffer): AuditLog {
  type Pending = { readonly entry: NewAuditEntry; resolve(e: AuditEntry): void; reject(e: unknown): void };
  let queue: Pending[] = [];
  let writing = false;

  const appendBatch = (entries: readonly NewAuditEntry[]): Promise<AuditEntry[]> =>
    sql.transaction(async (tx) => {
      const [last] = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
      let [seq, prevHash] = last ? [Number(last.seq), last.hash] : [0, GENESIS];
      const written: AuditEntry[] = [];
      for (const entry of entries) {
        // Round-tripped through JSON so the hash covers exactly what a reader will parse back.
        const detail = JSON.parse(JSON.stringify(entry.detail)) as { [key: string]: Json };
        const unhashed = { seq: seq + 1, at: now(), actor: { ...entry.actor }, action: entry.action, target: entry.target, detail, prevHash };
        const full: AuditEntry = { ...unhashed, hash: entryHash(key, unhashed) };
        await tx.query(`INSERT INTO audit_log (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
          full.seq,
          full.at,
          full.actor.role,
          full.actor.tokenId,
          full.action,
          full.target,
          JSON.stringify(full.detail),
          full.prevHash,
          full.hash,
        ]);
        written.push(full);
        [seq, prevHash] = [full.seq, full.hash];
      }
      const head = auditHead(key, seq, prevHash);
      // Delete and insert: portable to DuckDB and PostgreSQL alike, inside the transaction.
      await tx.query('DELETE FROM audit_head WHERE id = 1');
      await tx.query('INSERT INTO audit_head (id, seq, hash, mac) VALUES (1, $1, $2, $3)', [head.seq, head.hash, head.mac]);
      return written;
    });

  async function writeQueued(): Promise<void> {
    writing = true;
    while (queue.length > 0) {
      const batch = queue.slice(0, MAX_BATCH);
      queue = queue.slice(batch.length);
      try {
        const written = await withRaceRetries(() => appendBatch(batch.map((p) => p.entry)));
        batch.forEach((p, i) => p.resolve(written[i]!));
      } catch (e) {
        batch.forEach((p) => p.reject(e));
      }
    }
    writing = false;
  }

  const readHead = async (): Promise<AuditHead | undefined> => {
    const [row] = await sql.query<{ seq: number; hash: string; mac: string }>('SELECT seq, hash, mac FROM audit_head WHERE id = 1');
    return row && { seq: Number(row.seq), hash: row.hash, mac: row.mac };
  };

  /**
   * Every entry, then the head checkpoint. Entries and head are written in one
   * transaction, so a head read after the last page names that entry or a later one
   * (appended meanwhile): those are read too, a few times at most, before giving up.
   */
  function chainThenHead(): { entries: AsyncGenerator<AuditEntry>; head: () => AuditHead | undefined } {
    let head: AuditHead | undefined;
    async function* entries(): AsyncGenerator<AuditEntry> {
      let after = 0;
      for (let catchUps = 0; ; ) {
        const rows = await sql.query<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`, [after]);
        for (const r of rows) yield toEntry(r);
        if (rows.length > 0) after = Number(rows[rows.length - 1]!.seq);
        if (rows.length === PAGE) continue;
        head = await readHead();
        if (head === undefined || head.seq <= after || ++catchUps > HEAD_CATCH_UPS) return;
      }
    }
    return { entries: entries(), head: () => head };
  }

  return {
    append(entry) {
      return new Promise<AuditEntry>((resolve, reject) => {
        queue.push({ entry, resolve, reject });
        if (!writing) void writeQueued();
      });
    },

    async list({ after = 0, limit, action }) {
      const params: unknown[] = [after];
      const byAction = action === undefined ? '' : ` AND action = $${params.push(action)}`;
      const rows = await sql.query<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1${byAction} ORDER BY seq LIMIT $${params.push(limit)}`, params);
      return rows.map(toEntry);
    },

    async verify() {
      const { entries, head } = chainThenHead();
      return verifyChain(key, entries, head);
    },
  };
}
