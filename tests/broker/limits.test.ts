import { describe, expect, it } from 'vitest';
import { LoginThrottle } from '../../broker/login-throttle.js';
import { Lru } from '../../broker/lru.js';
import { Quotas } from '../../broker/rate-limit.js';

/** The broker's bounded per-key state, on a fake clock. */
const clock = () => {
  const c = { t: 1_000_000, now: () => c.t };
  return c;
};

describe('Lru', () => {
  it('forgets the least recently used entry beyond its size', () => {
    const lru = new Lru<string, number>(2);
    lru.set('a', 1);
    lru.set('b', 2);
    lru.get('a'); // a is now the most recent
    lru.set('c', 3);
    expect([lru.get('a'), lru.get('b'), lru.get('c'), lru.size]).toEqual([1, undefined, 3, 2]);
  });
});

describe('LoginThrottle', () => {
  const unregistered = async (): Promise<boolean> => false;
  const opts = { freeFailuresPerUser: 3, freeFailuresPerAddress: 5, baseLockMs: 1000, maxLockMs: 8000, forgetAfterMs: 60_000, maxEntries: 100 };

  it('locks a username after its free failures, for a time that doubles up to the maximum', async () => {
    const c = clock();
    const t = new LoginThrottle(opts, c.now);
    for (let i = 0; i < 2; i++) t.failed('dev-1', undefined);
    expect(await t.locked('dev-1', undefined, unregistered)).toBeUndefined();
    t.failed('dev-1', undefined); // third failure: locked 1 s
    expect(await t.locked('dev-1', undefined, unregistered)).toEqual({ key: 'user', retryInMs: 1000 });
    const locks = [1000];
    for (let i = 0; i < 5; i++) {
      c.t += 10_000;
      t.failed('dev-1', undefined);
      locks.push((await t.locked('dev-1', undefined, unregistered))!.retryInMs);
    }
    expect(locks).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    c.t += 8000;
    expect(await t.locked('dev-1', undefined, unregistered)).toBeUndefined();
  });

  it('locks an address across usernames, and a success clears only the username', async () => {
    const c = clock();
    const t = new LoginThrottle(opts, c.now);
    for (let i = 0; i < 5; i++) t.failed(`guess-${i}`, '10.0.0.9');
    expect(await t.locked('someone-else', '10.0.0.9', unregistered)).toMatchObject({ key: 'address' });
    expect(await t.locked('someone-else', '10.0.0.10', unregistered)).toBeUndefined();
    c.t += 60_000;
    t.failed('dev-2', '10.0.0.10');
    t.failed('dev-2', '10.0.0.10');
    t.succeeded('dev-2');
    t.failed('dev-2', '10.0.0.10');
    expect(await t.locked('dev-2', undefined, unregistered)).toBeUndefined(); // the count started again
  });

  it('binds an address lock only on names that are no registered device; a registered one is locked by its own failures', async () => {
    const c = clock();
    const t = new LoginThrottle(opts, c.now);
    const registered = async (u: string): Promise<boolean> => u.startsWith('dev-');
    for (let i = 0; i < 5; i++) t.failed(`guess-${i}`, '10.0.0.9');
    expect(await t.locked('guess-9', '10.0.0.9', registered)).toMatchObject({ key: 'address' });
    expect(await t.locked('dev-7', '10.0.0.9', registered)).toBeUndefined();
    for (let i = 0; i < 3; i++) t.failed('dev-7', '10.0.0.9');
    expect(await t.locked('dev-7', '10.0.0.9', registered)).toMatchObject({ key: 'user' });
    expect(await t.locked('dev-8', '10.0.0.9', registered)).toBeUndefined();
  });

  it('forgets failures after a quiet spell and keeps at most maxEntries keys', async () => {
    const c = clock();
    const t = new LoginThrottle({ ...opts, maxEntries: 2 }, c.now);
    t.failed('a', undefined);
    t.failed('a', undefined);
    c.t += 61_000;
    t.failed('a', undefined);
    expect(await t.locked('a', undefined, unregistered)).toBeUndefined(); // 1 fresh failure, not 3
    for (const u of ['x', 'y', 'z']) for (let i = 0; i < 3; i++) t.failed(u, undefined);
    expect(await t.locked('x', undefined, unregistered)).toBeUndefined(); // evicted
    expect(await t.locked('z', undefined, unregistered)).toMatchObject({ key: 'user' });
  });
});

describe('Quotas', () => {
  const plenty = { perSecond: 1e9, burst: 1e9 };
  const quotas = (c: { now: () => number }, disconnectAfterMs = 0) =>
    new Quotas(
      {
        device: { messages: { perSecond: 10, burst: 3 }, bytes: { perSecond: 1000, burst: 2000 } },
        vendor: { messages: plenty, bytes: plenty },
        disconnectAfterMs,
        maxEntries: 10,
      },
      c.now,
    );

  it('lets a burst of messages through, then spaces them at the rate; others are not affected', () => {
    const c = clock();
    const q = quotas(c);
    const waits = Array.from({ length: 6 }, () => q.take('flood', 'v', 1).waitMs);
    expect(waits).toEqual([0, 0, 0, 100, 200, 300]);
    expect(q.take('quiet', 'v', 1).waitMs).toBe(0);
    c.t += 1000; // long enough for the bucket to refill
    expect([1, 2, 3, 4].map(() => q.take('flood', 'v', 1).waitMs)).toEqual([0, 0, 0, 100]);
  });

  it('counts bytes: a burst of bytes, then the byte rate', () => {
    const c = clock();
    const q = quotas(c);
    expect(q.take('big', 'v', 1500)).toMatchObject({ waitMs: 0, over: undefined });
    expect(q.take('big', 'v', 1500)).toMatchObject({ waitMs: 1000, over: 'device bytes', started: true });
    expect(q.take('small', 'v', 10).waitMs).toBe(0);
  });

  it('a vendor quota is shared by its devices; a profile may have its own device quota', () => {
    const c = clock();
    const q = new Quotas(
      { device: { messages: plenty, bytes: plenty }, vendor: { messages: { perSecond: 10, burst: 2 }, bytes: plenty }, disconnectAfterMs: 0, maxEntries: 10 },
      c.now,
    );
    expect([q.take('a', 'v', 1).waitMs, q.take('b', 'v', 1).waitMs, q.take('c', 'v', 1).over]).toEqual([0, 0, 'vendor messages']);
    expect(q.take('d', 'w', 1).waitMs).toBe(0);
    expect(q.take('e', 'w', 1, { messages: { perSecond: 1, burst: 1 } }).waitMs).toBe(0);
    expect(q.take('e', 'w', 1, { messages: { perSecond: 1, burst: 1 } })).toMatchObject({ waitMs: 1000, over: 'device messages' });
  });

  it('a device over quota without a break for disconnectAfterMs is to be disconnected, and counted', () => {
    const c = clock();
    const q = quotas(c, 5000);
    for (let i = 0; i < 3; i++) q.take('flood', 'v', 1);
    expect(q.take('flood', 'v', 1)).toMatchObject({ started: true, disconnect: false });
    // It keeps sending as fast as it is let through: always one message over.
    const verdicts = Array.from({ length: 50 }, () => ((c.t += 100), q.take('flood', 'v', 1)));
    expect(verdicts.findIndex((v) => v.disconnect)).toBe(49);
    expect(verdicts.every((v) => v.waitMs > 0)).toBe(true);
    // Back within the rate: the clock starts again.
    c.t += 10_000;
    expect(q.take('flood', 'v', 1)).toMatchObject({ waitMs: 0, disconnect: false });
    expect(q.stats()).toMatchObject({ disconnects: 1, devices: [{ deviceId: 'flood', disconnects: 1 }], vendors: [{ vendorId: 'v', disconnects: 1 }] });
  });
});
