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
 * Bounded twice: entries older than `windowMs` and beyond `maxEntries` go first (a Map
 * iterates in insertion order). Past the window the rules no longer hold those points
 * anyway.
 */
export class RecentPoints {
  readonly #seen = new Map<string, number>();

  constructor(private readonly limits: { readonly windowMs: number; readonly maxEntries: number }) {}

  /** True the first time this point is offered, false when it was offered before. */
  add(p: Point, now: number): boolean {
    const key = `${p.messageId}:${p.seq}`;
    if (this.#seen.has(key)) return false;
    this.#seen.set(key, now);
    this.#trim(now);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #trim(now: number): void {
    const oldest = now - this.limits.windowMs;
    for (const [key, at] of this.#seen) {
      if (this.#seen.size <= this.limits.maxEntries && at >= oldest) return;
      this.#seen.delete(key);
    }
  }
}
