import pg from 'pg';
import { HubError } from '../../kernel/errors.js';
import type { ShardLeases } from '../../kernel/shard-leases.js';

/** Advisory lock keys (two int4): [LEASES, shard] is a shard's lease, [MEMBERS, 0] held shared by each worker. */
const LEASES = 0x4168_0001;
const MEMBERS = 0x4168_0002;

/**
 * ShardLeases on PostgreSQL session-level advisory locks, held on one connection of
 * their own: the server ends them when that connection ends, so a worker killed with
 * kill -9 (its socket closed by the kernel) frees its shards at once, and one cut off
 * from the server frees them when the server notices (TCP keepalive). The worker notices
 * a broken connection through `onLost` and through `members()` failing, which it calls
 * on every round, and stops consuming before the server could give its shards to
 * another. Every worker holds [MEMBERS, 0] shared, so pg_locks counts the workers.
 */
export async function openPostgresShardLeases(url: string): Promise<ShardLeases> {
  const client = new pg.Client({ connectionString: url, application_name: 'arena-hub ingest leases', keepAlive: true, connectionTimeoutMillis: 10_000 });
  const listeners: ((reason: string) => void)[] = [];
  let lost: string | undefined;
  let closing = false;
  const loseAll = (reason: string): void => {
    if (lost !== undefined || closing) return;
    lost = reason;
    for (const l of listeners) l(reason);
  };
  client.on('error', (e) => loseAll(e.message));
  client.on('end', () => loseAll('the lease connection ended'));
  const query = async <T>(sql: string, params: unknown[]): Promise<T> => {
    if (lost !== undefined) throw new HubError('STORE_UNAVAILABLE', `shard leases lost: ${lost}`);
    try {
      return (await client.query(sql, params)).rows[0] as T;
    } catch (e) {
      const reason = (e as Error).message;
      // A query the server answered with an error keeps the connection; one it never answered does not.
      if (!(e instanceof pg.DatabaseError)) loseAll(reason);
      throw new HubError('STORE_UNAVAILABLE', `shard leases: ${reason}`);
    }
  };
  try {
    await client.connect();
    await client.query('SELECT pg_advisory_lock_shared($1, 0)', [MEMBERS]);
  } catch (e) {
    await client.end().catch(() => undefined);
    throw new HubError('STORE_UNAVAILABLE', `shard leases: ${(e as Error).message}`);
  }
  return {
    async tryTake(shard) {
      return (await query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [LEASES, shard])).ok;
    },
    async release(shard) {
      await query('SELECT pg_advisory_unlock($1, $2)', [LEASES, shard]);
    },
    async members() {
      const row = await query<{ n: string }>(
        `SELECT count(*) AS n FROM pg_locks
         WHERE locktype = 'advisory' AND classid = $1 AND objid = 0 AND objsubid = 2 AND mode = 'ShareLock' AND granted
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
        [MEMBERS],
      );
      return Number(row.n);
    },
    onLost(listener) {
      listeners.push(listener);
    },
    async close() {
      closing = true;
      // Ending the session ends its advisory locks.
      await client.end().catch(() => undefined);
    },
  };
}
