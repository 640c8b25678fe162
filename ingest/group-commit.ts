/**
 * Group commit: entries that arrive while a write is in flight are committed together
 * by the next write. At low load every entry is written at once (no timer, no added
 * latency); at high load batches grow up to maxBatch. Each entry's promise settles with
 * its batch, so a caller (the broker's PUBACK) can wait for durability.
 *
 * Memory is bounded: once maxPending entries wait, enqueue() itself waits for room,
 * which stalls the publishing connection instead of growing a queue.
 */
export interface GroupCommitOptions<E, R> {
  readonly maxBatch: number;
  readonly maxPending: number;
  readonly write: (entries: readonly E[]) => Promise<R>;
  /** Called after the entries' promises resolved; must not throw. */
  readonly onCommitted?: (entries: readonly E[], result: R) => void;
  readonly onFailed?: (entries: readonly E[], error: unknown) => void;
}

interface Waiting<E> {
  readonly entry: E;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

export class GroupCommit<E, R> {
  readonly #opts: GroupCommitOptions<E, R>;
  #queue: Waiting<E>[] = [];
  #writing = false;
  #closed = false;
  #roomWaiters: (() => void)[] = [];
  #idleWaiters: (() => void)[] = [];

  constructor(opts: GroupCommitOptions<E, R>) {
    if (opts.maxBatch < 1 || opts.maxPending < opts.maxBatch) throw new RangeError('need 1 <= maxBatch <= maxPending');
    this.#opts = opts;
  }

  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Undefined while there is room; otherwise a promise that resolves when there is.
   * Callers wait here before doing per-entry work (decoding), so a backlog holds only
   * what the broker already holds (raw packets), not their decoded points.
   */
  room(): Promise<void> | undefined {
    // Callers loop (`for (let w = room(); w; w = room()) await w`): several may wake at once.
    if (this.#queue.length < this.#opts.maxPending || this.#closed) return undefined;
    return new Promise<void>((r) => this.#roomWaiters.push(r));
  }

  /** Resolves once the entry is durably written; rejects if its batch failed. */
  async enqueue(entry: E): Promise<void> {
    for (let wait = this.room(); wait; wait = this.room()) await wait;
    if (this.#closed) throw new Error('ingest is closed');
    const done = new Promise<void>((resolve, reject) => this.#queue.push({ entry, resolve, reject }));
    this.#pump();
    return done;
  }

  /** Resolves when everything enqueued so far has been written (or failed). */
  drain(): Promise<void> {
    if (!this.#writing && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  async close(): Promise<void> {
    await this.drain();
    this.#closed = true;
    for (const r of this.#roomWaiters.splice(0)) r();
  }

  #pump(): void {
    if (this.#writing || this.#queue.length === 0) return;
    this.#writing = true;
    const batch = this.#queue.splice(0, this.#opts.maxBatch);
    for (const r of this.#roomWaiters.splice(0)) r();
    const entries = batch.map((w) => w.entry);
    this.#opts
      .write(entries)
      .then(
        (result) => {
          for (const w of batch) w.resolve();
          this.#opts.onCommitted?.(entries, result);
        },
        (error: unknown) => {
          this.#opts.onFailed?.(entries, error);
          for (const w of batch) w.reject(error);
        },
      )
      .finally(() => {
        this.#writing = false;
        if (this.#queue.length > 0) this.#pump();
        else for (const r of this.#idleWaiters.splice(0)) r();
      });
  }
}
