/**
 * A Map that keeps at most `max` entries and forgets the least recently used one first.
 * The broker's per-username, per-address and per-device state lives in these, so a
 * client that keeps inventing new names cannot grow memory without bound.
 */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly max: number) {
    if (!(max >= 1)) throw new RangeError('an LRU needs room for at least one entry');
  }

  get size(): number {
    return this.#map.size;
  }

  /** The value, now marked as most recently used. */
  get(key: K): V | undefined {
    const value = this.#map.get(key);
    if (value !== undefined) {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#map.delete(key);
    this.#map.set(key, value);
    // A Map iterates in insertion order, so the first key is the least recently used.
    if (this.#map.size > this.max) this.#map.delete(this.#map.keys().next().value as K);
  }

  /** Least recently used first; does not mark anything as used. */
  entries(): IterableIterator<[K, V]> {
    return this.#map.entries();
  }

  delete(key: K): void {
    this.#map.delete(key);
  }
}
