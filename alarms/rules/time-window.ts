/**
 * Signed amounts by time over a bounded span (the fluid-balance rule's 72 h of intake and
 * output), answering "sum of the amounts in (from, to]" in O(log n).
 *
 * Points are kept ordered by time with running totals beside them. A point in time order
 * is an append (O(1)); a late one is inserted where it belongs and the totals after it are
 * corrected, which costs only the points behind it (few, for data that is late by minutes).
 * Points older than the span before the newest are dropped from the front by moving an
 * index, and the arrays are compacted once half of them is dropped, so each point costs
 * amortised O(1) to keep and O(log n) to ask about. The whole window was sorted and shifted
 * for every point before: 10 000 intake points took 46 s inside the commit turn.
 *
 * A snapshot holds the kept points with their totals as they are, so a window restored
 * from it answers every sum with the same bits as the window it was taken from.
 */
export class TimeWindow {
  /** Times, ascending, from `#head` on. */
  #times: number[] = [];
  /** `#totals[i]` = sum of the amounts of points `0..i` of the arrays, dropped ones included. */
  #totals: number[] = [];
  #head = 0;
  /** The total before the first point of the arrays: 0, or a restored window's. */
  #base = 0;

  constructor(readonly spanMs: number) {}

  /** The kept points and their running totals (alarms/checkpoint.ts). */
  snapshot(): WindowSnapshot {
    const h = this.#head;
    const n = this.#times.length - h;
    const times = new Float64Array(n);
    const totals = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      times[i] = this.#times[h + i]!;
      totals[i] = this.#totals[h + i]!;
    }
    return { spanMs: this.spanMs, times, totals, base: h > 0 ? this.#totals[h - 1]! : this.#base };
  }

  static restore(s: WindowSnapshot): TimeWindow {
    const w = new TimeWindow(s.spanMs);
    w.#times = Array.from(s.times);
    w.#totals = Array.from(s.totals);
    w.#base = s.base;
    return w;
  }

  get size(): number {
    return this.#times.length - this.#head;
  }

  add(at: number, amount: number): void {
    const times = this.#times;
    const totals = this.#totals;
    const end = times.length;
    if (end === this.#head || times[end - 1]! <= at) {
      times.push(at);
      totals.push((end > 0 ? totals[end - 1]! : this.#base) + amount);
    } else {
      const i = this.#upperBound(at);
      times.splice(i, 0, at);
      totals.splice(i, 0, (i > 0 ? totals[i - 1]! : this.#base) + amount);
      for (let j = i + 1; j < totals.length; j++) totals[j]! += amount;
    }
    this.#evictBefore(times[times.length - 1]! - this.spanMs);
  }

  /** Sum of the amounts of points with from < time <= to. */
  sum(from: number, to: number): number {
    const lo = this.#upperBound(from); // first time > from
    const hi = this.#upperBound(to); // first time > to
    if (hi <= lo) return 0;
    const before = lo > 0 ? this.#totals[lo - 1]! : this.#base;
    return this.#totals[hi - 1]! - before;
  }

  /** First index from `#head` whose time is greater than `at`. */
  #upperBound(at: number): number {
    let lo = this.#head;
    let hi = this.#times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#times[mid]! <= at) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #evictBefore(cutoff: number): void {
    const times = this.#times;
    while (this.#head < times.length && times[this.#head]! < cutoff) this.#head += 1;
    if (this.#head > 64 && this.#head * 2 > times.length) {
      // Rebase the totals on the first kept point so they stay small, then drop the rest.
      const offset = this.#totals[this.#head - 1]!;
      this.#times = times.slice(this.#head);
      this.#totals = this.#totals.slice(this.#head).map((t) => t - offset);
      this.#head = 0;
      this.#base = 0;
    }
  }
}

export interface WindowSnapshot {
  readonly spanMs: number;
  readonly times: Float64Array;
  readonly totals: Float64Array;
  readonly base: number;
}
