import { GENESIS, entryHash, verifyChain, type AuditEntry, type AuditLog, type Json } from '../../kernel/audit.js';
import { isHubError } from '../../kernel/errors.js';
import type { SqlClient } from './sql-client.js';

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
/** Another process appending at the same moment makes the seq insert CONFLICT; it is retried on the new tail. */
const RACE_RETRIES = 5;

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

/** The audit log in the registry's SQL store. Only INSERT and SELECT touch its table. */
export function sqlAuditLog(sql: SqlClient, now: () => number): AuditLog {
  // One append at a time in this process, so entries never race each other for a seq.
  let tail: Promise<unknown> = Promise.resolve();

  const appendOnce = (entry: Parameters<AuditLog['append']>[0]): Promise<AuditEntry> =>
    sql.transaction(async (tx) => {
      const [last] = await tx.query<{ seq: number; hash: string }>('SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1');
      // Round-tripped through JSON so the hash covers exactly what a reader will parse back.
      const detail = JSON.parse(JSON.stringify(entry.detail)) as { [key: string]: Json };
      const unhashed = { seq: last ? Number(last.seq) + 1 : 1, at: now(), actor: { ...entry.actor }, action: entry.action, target: entry.target, detail, prevHash: last?.hash ?? GENESIS };
      const full: AuditEntry = { ...unhashed, hash: entryHash(unhashed) };
      await tx.query(`INSERT INTO audit_log (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, [
        full.seq, full.at, full.actor.role, full.actor.tokenId, full.action, full.target, JSON.stringify(full.detail), full.prevHash, full.hash,
      ]);
      return full;
    });

  async function* all(): AsyncGenerator<AuditEntry> {
    let after = 0;
    for (;;) {
      const rows = await sql.query<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT ${PAGE}`, [after]);
      for (const r of rows) yield toEntry(r);
      if (rows.length < PAGE) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  return {
    append(entry) {
      const run = tail.then(async () => {
        for (let attempt = 0; ; attempt++) {
          try {
            return await appendOnce(entry);
          } catch (e) {
            if (!isHubError(e) || e.code !== 'CONFLICT' || attempt >= RACE_RETRIES) throw e;
          }
        }
      });
      tail = run.catch(() => undefined);
      return run;
    },

    async list({ after = 0, limit, action }) {
      const params: unknown[] = [after];
      const byAction = action === undefined ? '' : ` AND action = $${params.push(action)}`;
      const rows = await sql.query<AuditRow>(`SELECT ${COLUMNS} FROM audit_log WHERE seq > $1${byAction} ORDER BY seq LIMIT $${params.push(limit)}`, params);
      return rows.map(toEntry);
    },

    verify: () => verifyChain(all()),
  };
}
