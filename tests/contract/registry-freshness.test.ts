import { describe, expect, it } from 'vitest';
import { CacheFreshness, serialised } from '../../stores/sql/freshness.js';

/**
 * The ordering of write-throughs against reloads (stores/sql/freshness.ts), with the
 * races staged step by step. The registry's own tests (registry.contract.ts,
 * registry-postgres.test.ts) stage the same races against real databases.
 */

/** Lets every pending promise callback run. */
const settled = (): Promise<void> => new Promise((r) => setImmediate(r));

/** A promise with its resolve handle. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

describe('CacheFreshness', () => {
  it('swaps in a read that saw no write-through', async () => {
    let cache = 'old';
    const f = new CacheFreshness(() => expect.unreachable('no write was in flight'));
    await f.reload(
      async () => 'fresh',
      (v) => (cache = v),
    );
    expect(cache).toBe('fresh');
  });

  it('reads again when a write-through lands during the read, so the swap keeps that write', async () => {
    const cache = new Set<string>(['a']);
    const table = new Set<string>(['a']);
    const f = new CacheFreshness(() => expect.unreachable('the write began after no swap'));
    let reads = 0;
    const firstRead = gate();
    const resume = gate();
    const reload = f.reload(
      async () => {
        reads++;
        const snapshot = new Set(table); // taken before the write commits
        if (reads === 1) {
          firstRead.open();
          await resume.opened;
        }
        return snapshot;
      },
      (fresh) => {
        cache.clear();
        for (const v of fresh) cache.add(v);
      },
    );
    await firstRead.opened;
    const ticket = f.begin();
    table.add('b'); // commits
    f.writeThrough(ticket, () => cache.add('b'));
    resume.open();
    await reload;
    expect(reads).toBe(2);
    expect([...cache]).toEqual(['a', 'b']);
  });

  it('leaves the caches alone and rejects when the read fails, or when writes never stop landing', async () => {
    let cache = 'old';
    const f = new CacheFreshness(() => undefined, 3);
    await expect(
      f.reload(
        () => Promise.reject(new Error('connection lost')),
        (v: string) => (cache = v),
      ),
    ).rejects.toThrow('connection lost');
    expect(cache).toBe('old');
    let reads = 0;
    await expect(
      f.reload(
        async () => {
          reads++;
          f.writeThrough(f.begin(), () => undefined);
          return 'fresh';
        },
        (v) => (cache = v),
      ),
    ).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(reads).toBe(3);
    expect(cache).toBe('old');
  });

  it('asks for one more reload when a write begun before a swap writes through after it', async () => {
    let stale = 0;
    const f = new CacheFreshness(() => stale++);
    const before = f.begin();
    await f.reload(
      async () => 'snapshot',
      () => undefined,
    );
    const after = f.begin();
    f.writeThrough(after, () => undefined);
    expect(stale).toBe(0);
    // The snapshot may hold another process's later change of the same row, which this older write just overwrote.
    f.writeThrough(before, () => undefined);
    expect(stale).toBe(1);
  });
});

describe('serialised', () => {
  it('never overlaps runs, and a call during a run shares the next one with every other such call', async () => {
    let running = 0;
    let runs = 0;
    const gates = [gate(), gate(), gate()];
    const run = serialised(async () => {
      expect(running).toBe(0);
      running++;
      const g = gates[runs++]!;
      await g.opened;
      running--;
    });
    const first = run();
    const alsoFirst = run(); // the first run has not started yet: joins it
    await settled();
    expect(runs).toBe(1);
    const second = run();
    const alsoSecond = run();
    expect(alsoFirst).toBe(first);
    expect(alsoSecond).toBe(second);
    gates[0]!.open();
    await first;
    gates[1]!.open();
    await second;
    expect(runs).toBe(2);
  });

  it('keeps going after a failed run', async () => {
    let n = 0;
    const g = gate();
    const run = serialised(async () => {
      if (n++ > 0) return;
      await g.opened;
      throw new Error('first fails');
    });
    const failing = run();
    await settled();
    const next = run();
    g.open();
    await expect(failing).rejects.toThrow('first fails');
    await expect(next).resolves.toBeUndefined();
    await expect(run()).resolves.toBeUndefined();
    expect(n).toBe(3);
  });
});
