import { describe, expect, it } from 'vitest';
import { GroupCommit } from '../../ingest/group-commit.js';

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

describe('group commit', () => {
  it('writes at once when idle and groups what arrives during a write', async () => {
    const batches: number[][] = [];
    const first = gate();
    const gc = new GroupCommit<number, void>({
      maxBatch: 100,
      maxPending: 1000,
      write: async (e) => {
        batches.push([...e]);
        if (batches.length === 1) await first.p;
      },
    });
    const done = [gc.enqueue(1)];
    for (let i = 2; i <= 5; i++) done.push(gc.enqueue(i));
    await new Promise((r) => setImmediate(r));
    expect(batches).toEqual([[1]]);
    first.open();
    await Promise.all(done);
    expect(batches).toEqual([[1], [2, 3, 4, 5]]);
  });

  it('splits at maxBatch', async () => {
    const sizes: number[] = [];
    const hold = gate();
    const gc = new GroupCommit<number, void>({
      maxBatch: 3,
      maxPending: 100,
      write: async (e) => {
        sizes.push(e.length);
        await hold.p;
      },
    });
    const all = Array.from({ length: 8 }, (_, i) => gc.enqueue(i));
    hold.open();
    await Promise.all(all);
    expect(sizes).toEqual([1, 3, 3, 1]);
  });

  it('settles an entry only after its batch is written, and rejects every entry of a failed batch', async () => {
    let fail = true;
    const gc = new GroupCommit<number, void>({
      maxBatch: 10,
      maxPending: 10,
      write: async () => {
        if (fail) throw new Error('disk gone');
      },
    });
    await expect(gc.enqueue(1)).rejects.toThrow('disk gone');
    fail = false;
    await expect(gc.enqueue(2)).resolves.toBeUndefined();
  });

  it('makes producers wait when maxPending entries are queued (backpressure, bounded memory)', async () => {
    const hold = gate();
    let peak = 0;
    const gc = new GroupCommit<number, void>({
      maxBatch: 2,
      maxPending: 4,
      write: async () => {
        await hold.p;
      },
    });
    const producers = Array.from({ length: 20 }, (_, i) => gc.enqueue(i));
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setImmediate(r));
      peak = Math.max(peak, gc.pending);
    }
    expect(peak).toBeLessThanOrEqual(4);
    hold.open();
    await Promise.all(producers);
    expect(gc.pending).toBe(0);
  });

  it('room() answers at once while there is room and waits while the queue is full', async () => {
    const hold = gate();
    const gc = new GroupCommit<number, void>({
      maxBatch: 1,
      maxPending: 2,
      write: async () => {
        await hold.p;
      },
    });
    expect(gc.room()).toBeUndefined();
    const all = [gc.enqueue(1), gc.enqueue(2), gc.enqueue(3)]; // 1 is being written, 2 and 3 wait
    await new Promise((r) => setImmediate(r));
    const waiting = gc.room();
    expect(waiting).toBeInstanceOf(Promise);
    let roomy = false;
    void waiting!.then(() => (roomy = true));
    await new Promise((r) => setImmediate(r));
    expect(roomy).toBe(false);
    hold.open();
    await Promise.all(all);
    expect(roomy).toBe(true);
  });

  it('drain waits for everything enqueued', async () => {
    const written: number[] = [];
    const gc = new GroupCommit<number, void>({
      maxBatch: 5,
      maxPending: 50,
      write: async (e) => {
        await new Promise((r) => setImmediate(r)); // a write that completes on a later turn
        written.push(...e);
      },
    });
    for (let i = 0; i < 12; i++) void gc.enqueue(i);
    await gc.drain();
    expect(written).toHaveLength(12);
  });
});
