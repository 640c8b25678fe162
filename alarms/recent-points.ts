import type { Point } from '../kernel/telemetry.js';

/**
 * The points the engine has judged lately, by (message id, seq), so that a point that
 * comes again is judged once. It comes again when a device resends a message whose
 * PUBACK it missed (ingest's commit listener hears of a duplicate too), when the split
 * API's persistent session redelivers what it had not yet acknowledged, and when that
 * session, after a restart, delivers what the start-up replay has already judged.
 * Alarms alone would survive that (the ledger remembers each alarm's sources); rolling
 * fluid balances, pending doses and the live stream would not: a redelivered intake of
 * 500 mL would count twice.
 *
 * Bounded twice: entries older than `windowMs` and beyond `maxEntries` go first, oldest
 * first. Past the window the rules no longer hold those points anyway. The order is kept in
 * a queue of its own: walking the Map from its start to find the oldest would pass over
 * every slot deleted since V8 last rehashed it, which made each add cost thousands of steps
 * once the bound was reached (a restart replaying 168 000 points took 37 s).
 */
export class RecentPoints {
  /**
   * Per message: the next seq not yet seen, and when it was first seen. A message's points
   * arrive in seq order (also when a big one is split over several forwards), so "seq below
   * next" is "seen before" without a key per point.
   */
  readonly #seen = new Map<bigint, { next: number; readonly at: number }>();
  /** Message ids in the order first seen, from `#head` on; compacted once half is passed. */
  #order: bigint[] = [];
  #head = 0;

  constructor(private readonly limits: { readonly windowMs: number; readonly maxEntries: number }) {}

  /** True the first time this point is offered, false when it was offered before. */
  add(p: Point, now: number): boolean {
    const entry = this.#seen.get(p.messageId);
    if (entry === undefined) {
      this.#seen.set(p.messageId, { next: p.seq + 1, at: now });
      this.#order.push(p.messageId);
      this.#trim(now);
      return true;
    }
    if (p.seq < entry.next) return false;
    entry.next = p.seq + 1;
    return true;
  }

  /** Messages remembered. */
  get size(): number {
    return this.#seen.size;
  }

  /**
   * What is remembered, oldest first (alarms/checkpoint.ts). The Map's own order is the
   * order first seen (entries are added once and removed oldest first), and walking it
   * costs no lookup by a bigint key.
   */
  snapshot(): RecentSnapshot {
    const n = this.#seen.size;
    const ids = new BigUint64Array(n);
    const next = new Float64Array(n);
    const at = new Float64Array(n);
    let i = 0;
    for (const [id, e] of this.#seen) {
      ids[i] = id;
      next[i] = e.next;
      at[i] = e.at;
      i++;
    }
    return { ids, next, at };
  }

  /** Remembers a snapshot's messages as they were; for an empty instance, before any add. */
  restore(s: RecentSnapshot): void {
    for (let i = 0; i < s.ids.length; i++) {
      const id = s.ids[i]!;
      if (this.#seen.has(id)) continue;
      this.#seen.set(id, { next: s.next[i]!, at: s.at[i]! });
      this.#order.push(id);
    }
  }

  #trim(now: number): void {
    const oldest = now - this.limits.windowMs;
    while (this.#head < this.#order.length) {
      const key = this.#order[this.#head]!;
      if (this.#seen.size <= this.limits.maxEntries && this.#seen.get(key)!.at >= oldest) break;
      this.#seen.delete(key);
      this.#head += 1;
    }
    if (this.#head > 1024 && this.#head * 2 > this.#order.length) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
  }
}

/** Parallel lists, one entry per message; message ids are unsigned 64-bit (kernel/telemetry.ts MessageId). */
export interface RecentSnapshot {
  readonly ids: BigUint64Array;
  readonly next: Float64Array;
  readonly at: Float64Array;
}
