import { HubError } from '../../kernel/errors.js';

/**
 * Orders the registry's two ways of changing its in-memory read side: a local write's
 * write-through (after its commit) and a reload (a fresh read of every cached table,
 * swapped in whole). Without this, either can undo the other:
 *
 * 1. A write commits after the reload's snapshot was taken, and its write-through lands
 *    in the old caches before the swap: the swap throws it away. So a reload that saw any
 *    write-through while it was reading reads again (the new read starts after that
 *    write's commit, so it holds it), and gives up after `maxReads` reads rather than
 *    swap something it knows to be older than the caches.
 * 2. A write began before a swap and its write-through lands after it: the swapped-in
 *    snapshot may already hold a later change of the same row by another process (whose
 *    notification has been consumed), which the write-through now overwrites with the
 *    older value. So such a write-through asks for one more reload (`onStale`).
 *
 * A write-through runs in the same event-loop turn as the resolution of its commit
 * (only microtasks in between), so "applied" here means "committed and applied".
 */
export class CacheFreshness {
  private applied = 0;
  private swaps = 0;

  constructor(
    private readonly onStale: () => void,
    private readonly maxReads = 8,
  ) {}

  /** Call when a write starts; hand the ticket to writeThrough() after it commits. */
  begin(): number {
    return this.swaps;
  }

  /** Applies a committed write to the caches. */
  writeThrough(ticket: number, apply: () => void): void {
    apply();
    this.applied++;
    if (ticket !== this.swaps) this.onStale();
  }

  /**
   * Reads with `load` until a read completes without a write-through meanwhile, then
   * swaps it in with `swap` (which must be synchronous). A failed read, or running out
   * of reads, leaves the caches as they were and rejects. Callers serialise reloads
   * (serialised() below): two interleaved would let the older read swap in last.
   */
  async reload<T>(load: () => Promise<T>, swap: (fresh: T) => void): Promise<void> {
    for (let read = 1; read <= this.maxReads; read++) {
      const mark = this.applied;
      const fresh = await load();
      if (this.applied !== mark) continue;
      swap(fresh);
      this.swaps++;
      return;
    }
    throw new HubError('STORE_UNAVAILABLE', `registry reload: local writes kept landing during ${this.maxReads} reads; the caches are unchanged`);
  }
}

/**
 * Runs `run` one call at a time. A call made while a run is under way waits for it and
 * then shares the next run with every other call made meanwhile, so each caller's
 * promise settles with a run that started after the call (it sees everything committed
 * before it), and a burst of calls costs at most two runs.
 */
export function serialised(run: () => Promise<void>): () => Promise<void> {
  let tail: Promise<unknown> = Promise.resolve();
  let queued: Promise<void> | undefined;
  return () => {
    if (queued) return queued;
    const next = tail.then(() => {
      queued = undefined;
      return run();
    });
    queued = next;
    tail = next.catch(() => undefined);
    return next;
  };
}
