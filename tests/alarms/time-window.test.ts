import { describe, expect, it } from 'vitest';
import { TimeWindow } from '../../alarms/rules/time-window.js';
import { mulberry32 } from '../../sim/random.js';

/** The definition the window must agree with: every kept point, filtered and summed. */
class Plain {
  readonly points: { at: number; amount: number }[] = [];
  constructor(readonly spanMs: number) {}
  add(at: number, amount: number): void {
    this.points.push({ at, amount });
    const latest = Math.max(...this.points.map((p) => p.at));
    this.points.splice(0, this.points.length, ...this.points.filter((p) => p.at >= latest - this.spanMs));
  }
  sum(from: number, to: number): number {
    return this.points.filter((p) => p.at > from && p.at <= to).reduce((s, p) => s + p.amount, 0);
  }
}

describe('TimeWindow', () => {
  it('sums (from, to] and drops points older than its span before the newest', () => {
    const w = new TimeWindow(100);
    w.add(10, 5);
    w.add(20, -2);
    w.add(30, 7);
    expect([w.sum(0, 30), w.sum(10, 30), w.sum(10, 20), w.sum(30, 40), w.size]).toEqual([10, 5, -2, 0, 3]);
    w.add(125, 1); // 10 and 20 are now older than 125 - 100
    expect([w.size, w.sum(0, 200)]).toEqual([2, 8]);
  });

  it('takes late points where they belong', () => {
    const w = new TimeWindow(1000);
    for (const at of [100, 300, 500]) w.add(at, 1);
    w.add(200, 10);
    w.add(50, 100);
    expect([w.sum(0, 150), w.sum(150, 250), w.sum(0, 1000), w.sum(250, 500)]).toEqual([101, 10, 113, 2]);
  });

  it('agrees with the plain definition over a long seeded run of mostly ordered, sometimes late points', () => {
    const rnd = mulberry32(0x71de);
    const span = 72 * 3_600_000;
    const w = new TimeWindow(span);
    const plain = new Plain(span);
    let now = 0;
    for (let n = 0; n < 3000; n++) {
      now += Math.floor(rnd() * 600_000);
      const at = rnd() < 0.1 ? now - Math.floor(rnd() * 3 * 3_600_000) : now;
      const amount = Math.round((rnd() - 0.4) * 500);
      w.add(at, amount);
      plain.add(at, amount);
      const windowMs = (1 + Math.floor(rnd() * 72)) * 3_600_000;
      expect(w.sum(at - windowMs, at), `point ${n}`).toBe(plain.sum(at - windowMs, at));
    }
    expect(w.size).toBe(plain.points.length);
  });

  it('a window restored from a snapshot answers as the original, also after more points, late ones and evictions', () => {
    const rnd = mulberry32(0x5eed);
    const span = 6 * 3_600_000;
    const w = new TimeWindow(span);
    let now = 0;
    const step = (target: TimeWindow[]) => {
      now += Math.floor(rnd() * 600_000);
      const at = rnd() < 0.1 ? now - Math.floor(rnd() * 3_600_000) : now;
      const amount = (rnd() - 0.4) * 500; // fractional: the totals must come back with the same bits
      for (const t of target) t.add(at, amount);
    };
    for (let n = 0; n < 500; n++) step([w]);
    const restored = TimeWindow.restore(w.snapshot());
    for (let n = 0; n < 500; n++) {
      step([w, restored]);
      const windowMs = (1 + Math.floor(rnd() * 6)) * 3_600_000;
      expect(restored.sum(now - windowMs, now), `point ${n}`).toBe(w.sum(now - windowMs, now));
    }
    expect(restored.size).toBe(w.size);
  });
});
