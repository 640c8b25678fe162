import { Point as Line } from '@influxdata/influxdb-client';
import { HubError } from '../../kernel/errors.js';
import { ident, MAX_NS, MIN_NS, str } from './influxql.js';
import type { QueryClient } from './query-client.js';
import { num } from './schema.js';

/**
 * Physical erasure on InfluxDB 1.x. A predicate DELETE only hides points: their bytes stay
 * in the shard's WAL segment until a snapshot and in its TSM files, under a tombstone,
 * until a full compaction, neither of which the API can ask for. So every shard that
 * holds a participant's points is rebuilt: the rest of the shard is copied into a
 * temporary retention policy (`SELECT * INTO … GROUP BY *`, which keeps tags as tags and
 * every field's type, nanosecond timestamps included), the shard is dropped (its TSM
 * and WAL files go), and the copy is written back. InfluxDB 2.x and 3.x offer none of
 * CREATE RETENTION POLICY, SELECT INTO or DROP SHARD over /query, so there the store
 * deletes by predicate only (README.md, "Erasure").
 *
 * A write that lands in a shard between its copy and its drop would be lost, and in the
 * split layout the writer (ingest) is another process than the eraser (api). They meet
 * through a lease point in InfluxDB itself: the eraser marks a rebuild running (a new
 * generation) before it copies a shard and renews the mark until the shard is dropped; a writer
 * waits while a rebuild runs, and after each write reads the mark again: if a rebuild
 * began (or was renewed) meanwhile, its copy may predate the write, so the writer writes
 * the same lines again once the rebuild is over (the same series, times and fields: an
 * overwrite). A write whose second read finds the mark unchanged was stored before the
 * rebuild's mark, hence before its copy. An eraser that could not renew its lease in
 * time drops nothing.
 */
/** Whether the server takes the statements a rebuild needs: InfluxDB 1.x, by /ping's X-Influxdb-Version. */
export const canRebuildShards = async (q: QueryClient): Promise<boolean> => /^v?1\./.test(await q.version());

const LEASE_MEASUREMENT = 'shard_rebuild';
/** The lease lives at one time far beyond any device time the hub accepts: its own shard group, never rebuilt. */
const LEASE_MS = Date.UTC(2200, 0, 1);
export const TEMP_RP = 'arena_erasure_rebuild';
const LEASE_MS_DEFAULT = 30_000;
/** How long past its end a writer still honours a lease: room for the eraser's and writer's clocks to differ. */
const CLOCK_MARGIN_MS = 60_000;
const POLL_MS = 200;
/** Copies of one shard before a rebuild gives up on a count that keeps changing. */
const COPY_ATTEMPTS = 3;

export interface Lease {
  readonly gen: number;
  readonly state: 'idle' | 'rebuilding';
  readonly until: number;
}

export interface Shard {
  readonly id: number;
  readonly startNs: bigint;
  readonly endNs: bigint;
}

export interface ShardRebuildOptions {
  readonly q: QueryClient;
  readonly database: string;
  /** The retention policy the store writes to; undefined = the database's default one. */
  readonly retentionPolicy?: string | undefined;
  /** Writes the lease point (a write API of its own: renewals run beside the rebuild). */
  readonly send: (lines: Line[]) => Promise<void>;
  readonly leaseMs?: number;
  readonly now?: () => number;
}

export class ShardRebuilds {
  readonly #o: ShardRebuildOptions;
  readonly #leaseMs: number;
  readonly #now: () => number;
  #rp: string | undefined;
  /** The lease as this writer last read it. */
  #seen: Lease | undefined;

  constructor(o: ShardRebuildOptions) {
    this.#o = o;
    this.#leaseMs = o.leaseMs ?? LEASE_MS_DEFAULT;
    this.#now = o.now ?? Date.now;
    this.#rp = o.retentionPolicy;
  }

  async lease(): Promise<Lease> {
    const [rows = []] = await this.#o.q.run([
      `SELECT "gen", "state", "until" FROM ${this.#from(await this.#retentionPolicy(), LEASE_MEASUREMENT)} WHERE time >= ${ns(LEASE_MS)} AND time <= ${ns(LEASE_MS)}`,
    ]);
    const r = rows[0];
    return r ? { gen: num(r.gen), state: r.state === 'rebuilding' ? 'rebuilding' : 'idle', until: num(r.until) } : { gen: 0, state: 'idle', until: 0 };
  }

  /**
   * Writer side: runs `write`, again after any rebuild that overlapped it, until one run
   * overlaps none. The lease read after a write is the baseline of the next one (a
   * rebuild that began in between shows as a change after that write), so a write costs
   * one lease read.
   */
  async fenced(write: () => Promise<void>): Promise<void> {
    let seen = this.#seen ?? (await this.lease());
    if (this.#running(seen, CLOCK_MARGIN_MS)) seen = await this.#idle();
    for (;;) {
      await write();
      const after = await this.lease();
      this.#seen = after;
      if (after.gen === seen.gen && after.until === seen.until) return;
      seen = this.#running(after, CLOCK_MARGIN_MS) ? await this.#idle() : after;
    }
  }

  /**
   * Eraser side: rebuilds each shard with only the points `keep` selects. The lease is
   * held from before the copy until the shard is dropped; writers go on while the copy is
   * written back (their points land in the shard group's new shard, beside it).
   */
  async rebuild(shards: readonly Shard[], keep: string): Promise<void> {
    await this.#recover();
    for (const shard of shards) {
      const range = `time >= ${shard.startNs} AND time < ${shard.endNs}`;
      const copied = await this.#leased((held) => this.#copyAndDrop(shard, range, keep, held));
      await this.#copyBack(range, copied);
    }
  }

  async #leased<T>(task: (held: () => void) => Promise<T>): Promise<T> {
    const current = await this.lease();
    if (this.#running(current)) throw new HubError('STORE_UNAVAILABLE', 'another erasure is rebuilding InfluxDB shards; try again when it is done');
    const gen = current.gen + 1;
    let until = this.#now() + this.#leaseMs;
    await this.#writeLease({ gen, state: 'rebuilding', until });
    let lapsed = false;
    let renewing: Promise<void> | undefined;
    const timer = setInterval(() => {
      if (renewing) return;
      const next = this.#now() + this.#leaseMs;
      renewing = this.#writeLease({ gen, state: 'rebuilding', until: next })
        .then(() => {
          if (this.#now() >= until) lapsed = true; // renewed too late: writers may have written meanwhile
          until = next;
        })
        .catch(() => void (lapsed = true))
        .finally(() => void (renewing = undefined));
    }, this.#leaseMs / 4);
    const held = (): void => {
      if (lapsed || this.#now() >= until)
        throw new HubError('STORE_UNAVAILABLE', 'the shard rebuild lost its lease (InfluxDB too slow to renew it); nothing was dropped');
    };
    try {
      return await task(held);
    } finally {
      clearInterval(timer);
      await renewing;
      await this.#writeLease({ gen, state: 'idle', until: 0 });
      this.#seen = undefined; // this process's own rebuild: its writes waited for it
    }
  }

  /** The store's shards in which `where` matches a point of `measurements`, oldest first. */
  async shardsHolding(measurements: readonly string[], where: string): Promise<Shard[]> {
    const rp = await this.#retentionPolicy();
    const [rows = []] = await this.#o.q.run(['SHOW SHARDS']);
    const shards = rows
      .filter((r) => r.database === this.#o.database && r.retention_policy === rp)
      .map((r) => ({ id: num(r.id), startNs: isoNs(r.start_time), endNs: isoNs(r.end_time) }))
      .sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
    if (shards.length === 0) return [];
    const from = measurements.map((m) => this.#from(rp, m)).join(', ');
    const counts = await this.#o.q.run(shards.map((s) => `SELECT count("seq") FROM ${from} WHERE ${where} AND time >= ${s.startNs} AND time < ${s.endNs}`));
    return shards.filter((_, i) => (counts[i] ?? []).some((r) => num(r.count) > 0));
  }

  /**
   * Copies what stays of the shard, checks the copy by count, drops the shard; returns
   * how many points the copy holds. A write another process sent before the lease was
   * taken may still land during the copy, so a count that differs is tried again (the
   * write is written again by its writer after the rebuild anyway: fenced()).
   */
  async #copyAndDrop(shard: Shard, range: string, keep: string, held: () => void): Promise<number> {
    const rp = await this.#retentionPolicy();
    const db = ident(this.#o.database);
    const tmp = ident(TEMP_RP);
    for (let attempt = 1; ; attempt++) {
      await this.#o.q.run([`DROP RETENTION POLICY ${tmp} ON ${db}`, `CREATE RETENTION POLICY ${tmp} ON ${db} DURATION INF REPLICATION 1`]);
      const [[copied] = [], counts = []] = await this.#o.q.run([
        `SELECT * INTO ${db}.${tmp}.:MEASUREMENT FROM ${this.#from(rp)} WHERE ${range} AND ${keep} GROUP BY *`,
        `SELECT count("seq") FROM ${this.#from(rp)} WHERE ${range} AND ${keep}`,
      ]);
      const kept = counts.reduce((n, r) => n + num(r.count), 0);
      const written = copied ? num(copied.written) : 0;
      // Every point but the erased ones carries "seq" (schema.ts): the copy must hold them all.
      if (written === kept) {
        held();
        await this.#o.q.run([`DROP SHARD ${shard.id}`]);
        return written;
      }
      if (attempt === COPY_ATTEMPTS) {
        await this.#o.q.run([`DROP RETENTION POLICY ${tmp} ON ${db}`]);
        throw new HubError('STORE_UNAVAILABLE', `shard ${shard.id}: copied ${written} points of ${kept}; the shard was left as it was`);
      }
    }
  }

  /** Writes the temporary copy back and drops it; a copy left by a crash is written back the same way. */
  async #copyBack(range: string, expected?: number): Promise<void> {
    const rp = await this.#retentionPolicy();
    const db = ident(this.#o.database);
    const [[back] = []] = await this.#o.q.run([`SELECT * INTO ${db}.${ident(rp)}.:MEASUREMENT FROM ${this.#from(TEMP_RP)} WHERE ${range} GROUP BY *`]);
    const written = back ? num(back.written) : 0;
    // The copy stays until it is all back: the next erasure (or this one's retry) writes it back again.
    if (expected !== undefined && written !== expected)
      throw new HubError('STORE_UNAVAILABLE', `wrote back ${written} of ${expected} points; the copy is kept`);
    await this.#o.q.run([`DROP RETENTION POLICY ${ident(TEMP_RP)} ON ${db}`]);
  }

  /** A rebuild cut short (crash, lost lease) may have left its copy: it goes back before anything else. */
  async #recover(): Promise<void> {
    const [rows = []] = await this.#o.q.run([`SHOW RETENTION POLICIES ON ${ident(this.#o.database)}`]);
    if (rows.some((r) => r.name === TEMP_RP)) await this.#copyBack(`time >= ${MIN_NS} AND time < ${MAX_NS}`);
  }

  async #idle(): Promise<Lease> {
    for (;;) {
      const lease = await this.lease();
      if (!this.#running(lease, CLOCK_MARGIN_MS)) return lease;
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }

  #running(l: Lease, marginMs = 0): boolean {
    return l.state === 'rebuilding' && this.#now() < l.until + marginMs;
  }

  #writeLease(l: Lease): Promise<void> {
    const line = new Line(LEASE_MEASUREMENT).intField('gen', l.gen).stringField('state', l.state).intField('until', l.until).timestamp(ns(LEASE_MS).toString());
    return this.#o.send([line]);
  }

  #from(rp: string, measurement?: string): string {
    return `${ident(this.#o.database)}.${ident(rp)}.${measurement === undefined ? '/.*/' : ident(measurement)}`;
  }

  async #retentionPolicy(): Promise<string> {
    if (this.#rp === undefined) {
      const [rows = []] = await this.#o.q.run([`SHOW RETENTION POLICIES ON ${ident(this.#o.database)}`]);
      const rp = rows.find((r) => r.default === true)?.name;
      if (typeof rp !== 'string') throw new HubError('STORE_UNAVAILABLE', `InfluxDB database ${this.#o.database} has no default retention policy`);
      this.#rp = rp;
    }
    return this.#rp;
  }
}

const ns = (ms: number): bigint => BigInt(ms) * 1_000_000n;
const isoNs = (v: unknown): bigint => ns(Date.parse(String(v)));

/** Where erasure goes: rows of every measurement but those of one participant tag (an absent tag reads as ''). */
export const keepAllBut = (tag: string): string => `${ident('participant')} != ${str(tag)}`;
