import { Lru } from './lru.js';

/**
 * A token bucket per device (GCRA form: one "theoretical arrival time" per key instead
 * of a token count and a refill timer). A message over the rate is not dropped: it
 * waits for its turn. The broker holds the publish hook for that long, and aedes reads
 * the next chunk from a connection only when every packet of the current one is
 * handled, so a flooding device is read more slowly while everyone else is not.
 */
export interface RateLimitOptions {
  /** Sustained messages per second per device. */
  readonly perSecond: number;
  /** Messages a device may send at once after a quiet spell. */
  readonly burst: number;
  /** Devices tracked at once; the least recently seen is forgotten first. */
  readonly maxEntries: number;
}

export class RateLimiter {
  readonly #interval: number;
  readonly #tolerance: number;
  readonly #tat: Lru<string, number>;
  readonly #now: () => number;

  constructor(opts: RateLimitOptions, now: () => number = Date.now) {
    if (!(opts.perSecond > 0) || !(opts.burst >= 1)) throw new RangeError('need perSecond > 0 and burst >= 1');
    this.#interval = 1000 / opts.perSecond;
    this.#tolerance = this.#interval * (opts.burst - 1);
    this.#tat = new Lru(opts.maxEntries);
    this.#now = now;
  }

  /** Takes one token for `key`; returns how many ms the caller must wait before using it (0 = now). */
  take(key: string): number {
    const now = this.#now();
    const tat = Math.max(this.#tat.get(key) ?? now, now);
    this.#tat.set(key, tat + this.#interval);
    return Math.max(0, tat - this.#tolerance - now);
  }
}
