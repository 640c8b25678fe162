import { describe, expect, it } from 'vitest';
import { RecentPoints } from '../../alarms/recent-points.js';
import type { Point } from '../../kernel/telemetry.js';

const point = (messageId: number, seq = 0): Point =>
  ({ kind: 'reading', messageId: BigInt(messageId), seq, deviceId: 'd', name: 'fluid_intake', value: 1, unit: 'mL' }) as unknown as Point;

describe('RecentPoints: a point judged once, memory bounded', () => {
  it('knows a point offered again, by message and seq, and takes later seqs of the same message', () => {
    const recent = new RecentPoints({ windowMs: 60_000, maxEntries: 10 });
    expect(recent.add(point(1, 0), 0)).toBe(true);
    expect(recent.add(point(1, 1), 0)).toBe(true);
    expect(recent.add(point(1, 0), 0)).toBe(false);
    expect(recent.add(point(1, 1), 0)).toBe(false);
    expect(recent.add(point(1, 2), 0)).toBe(true);
  });

  it('forgets the oldest messages first beyond maxEntries, and keeps the newest', () => {
    const recent = new RecentPoints({ windowMs: 60_000, maxEntries: 1000 });
    for (let i = 1; i <= 5000; i++) recent.add(point(i), 0);
    expect(recent.size).toBe(1000);
    expect(recent.add(point(4001), 0)).toBe(false); // among the newest 1000: remembered
    expect(recent.add(point(4000), 0)).toBe(true); // forgotten, so new again
  });

  it('forgets messages first seen before the window', () => {
    const recent = new RecentPoints({ windowMs: 60_000, maxEntries: 1000 });
    recent.add(point(1), 0);
    recent.add(point(2), 30_000);
    recent.add(point(3), 70_000); // 1 is now older than the window
    expect(recent.size).toBe(2);
    expect(recent.add(point(2), 70_000)).toBe(false);
    expect(recent.add(point(1), 70_000)).toBe(true);
  });
});
