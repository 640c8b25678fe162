import { Lru } from './lru.js';

/**
 * Slows password guessing down and keeps it from costing the broker CPU. Device secrets
 * are 256-bit random values, so guessing one is hopeless; what a guesser can do is make
 * the broker run scrypt (~40 ms, 16 MiB each) for every attempt. So failures are
 * counted per username and per remote address; past a few free failures the key is
 * locked for a time that doubles with every further failure, and while either key is
 * locked an attempt is refused at once, without looking at the secret.
 *
 * A success clears its username's count (the device has its secret right again) but
 * not its address's: otherwise one valid secret would reset the count for guessing
 * others from the same address. Counts are forgotten after `forgetAfterMs` without a
 * failure. Memory is bounded by an LRU per kind of key.
 *
 * Many devices of a ward share one address behind hospital or mobile NAT, so an address
 * lock binds only usernames that name no registered device (the caller says which):
 * a registered device behind a locked address is still checked, and locked only by the
 * failures of its own username. A guesser spraying registered device ids then costs at
 * most the per-username free failures of each before every one of them is locked.
 */
export interface LoginThrottleOptions {
  /** Failures of one username before it is locked. */
  readonly freeFailuresPerUser: number;
  /** Failures from one address before it is locked (higher: several devices may share a NAT address). */
  readonly freeFailuresPerAddress: number;
  /** First lock; doubles with every further failure up to maxLockMs. */
  readonly baseLockMs: number;
  readonly maxLockMs: number;
  readonly forgetAfterMs: number;
  /** Entries kept per kind of key. */
  readonly maxEntries: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleOptions = {
  freeFailuresPerUser: 5,
  freeFailuresPerAddress: 20,
  baseLockMs: 1000,
  maxLockMs: 5 * 60_000,
  forgetAfterMs: 15 * 60_000,
  maxEntries: 10_000,
};

interface Failures {
  count: number;
  last: number;
  lockedUntil: number;
}

export type LockedKey = 'user' | 'address';

export class LoginThrottle {
  readonly #opts: LoginThrottleOptions;
  readonly #now: () => number;
  readonly #users: Lru<string, Failures>;
  readonly #addresses: Lru<string, Failures>;

  constructor(opts: LoginThrottleOptions = DEFAULT_LOGIN_THROTTLE, now: () => number = Date.now) {
    this.#opts = opts;
    this.#now = now;
    this.#users = new Lru(opts.maxEntries);
    this.#addresses = new Lru(opts.maxEntries);
  }

  /**
   * Which key is locked for this attempt, with how long it stays locked; undefined = go
   * ahead. The username's own lock is answered first; `registered` is asked only when the
   * address alone is locked.
   */
  async locked(
    username: string,
    address: string | undefined,
    registered: (username: string) => Promise<boolean>,
  ): Promise<{ key: LockedKey; retryInMs: number } | undefined> {
    const now = this.#now();
    for (const [key, lru, id] of this.#keys(username, address)) {
      const f = this.#current(lru, id, now);
      if (!f || f.lockedUntil <= now) continue;
      if (key === 'address' && (await registered(username))) continue;
      return { key, retryInMs: f.lockedUntil - now };
    }
    return undefined;
  }

  failed(username: string, address: string | undefined): void {
    const now = this.#now();
    for (const [key, lru, id] of this.#keys(username, address)) {
      const f = this.#current(lru, id, now) ?? { count: 0, last: now, lockedUntil: 0 };
      f.count += 1;
      f.last = now;
      const free = key === 'user' ? this.#opts.freeFailuresPerUser : this.#opts.freeFailuresPerAddress;
      if (f.count >= free) {
        const doublings = Math.min(f.count - free, 30);
        f.lockedUntil = now + Math.min(this.#opts.maxLockMs, this.#opts.baseLockMs * 2 ** doublings);
      }
      lru.set(id, f);
    }
  }

  succeeded(username: string): void {
    this.#users.delete(username);
  }

  #keys(username: string, address: string | undefined): [LockedKey, Lru<string, Failures>, string][] {
    const keys: [LockedKey, Lru<string, Failures>, string][] = [['user', this.#users, username]];
    if (address !== undefined) keys.push(['address', this.#addresses, address]);
    return keys;
  }

  #current(lru: Lru<string, Failures>, id: string, now: number): Failures | undefined {
    const f = lru.get(id);
    if (f && now - f.last > this.#opts.forgetAfterMs && f.lockedUntil <= now) {
      lru.delete(id);
      return undefined;
    }
    return f;
  }
}
