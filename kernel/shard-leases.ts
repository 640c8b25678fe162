/**
 * Which ingest worker takes which handoff shard (kernel/handoff.ts). A worker consumes a
 * shard's persistent session only while it holds the shard's lease, so two workers never
 * take each other's sessions over; a dead worker's leases end with it and another takes
 * them. Adapter: stores/postgres/shard-leases.ts (PostgreSQL advisory locks).
 */
export interface ShardLeases {
  /** Takes the shard's lease if no process holds it: true when this process holds it now. */
  tryTake(shard: number): Promise<boolean>;
  /** Gives the lease back; the caller has stopped consuming the shard first. */
  release(shard: number): Promise<void>;
  /** Workers taking part now, this one included. Fails when the lease engine is unreachable. */
  members(): Promise<number>;
  /**
   * Called once when every lease this process held is gone at once (the connection that
   * held them broke): the caller must stop consuming every shard at once.
   */
  onLost(listener: (reason: string) => void): void;
  /** Gives back every lease and leaves. */
  close(): Promise<void>;
}
