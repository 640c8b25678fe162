import { describe, expect, it } from 'vitest';
import { phaseOf } from '../../datasets/columns.js';
import { periodsOf } from '../../reports/slices.js';

const H = 3_600_000;
const trial = { period: { from: 0, to: 100 * H }, baseline: { from: 10 * H, to: 20 * H }, interventionFrom: 30 * H };

describe('the dataset phase column cuts time as the report does', () => {
  it('names pre-baseline, baseline, the gap before the recorded start, and the intervention', () => {
    expect(phaseOf(trial, 10 * H - 1)).toBe('pre-baseline');
    expect(phaseOf(trial, 10 * H)).toBe('baseline');
    expect(phaseOf(trial, 20 * H - 1)).toBe('baseline');
    expect(phaseOf(trial, 20 * H)).toBe('pre-intervention');
    expect(phaseOf(trial, 30 * H - 1)).toBe('pre-intervention');
    expect(phaseOf(trial, 30 * H)).toBe('intervention');
  });

  it('starts the intervention at the end of the baseline when no start is recorded, and has no phase without either', () => {
    expect(phaseOf({ ...trial, interventionFrom: null }, 20 * H)).toBe('intervention');
    expect(phaseOf({ baseline: null, interventionFrom: 30 * H }, 29 * H)).toBe('pre-intervention');
    expect(phaseOf({ baseline: null, interventionFrom: 30 * H }, 30 * H)).toBe('intervention');
    expect(phaseOf({ baseline: null, interventionFrom: null }, 30 * H)).toBeNull();
  });

  it('agrees with the report: a time is "baseline" or "intervention" exactly where the report counts it so', () => {
    const periods = periodsOf(trial);
    for (let t = 0; t < 100 * H; t += H / 2) {
      const inReport = periods.find((p) => t >= p.from && t < p.to)?.name;
      const phase = phaseOf(trial, t);
      expect(inReport ?? 'neither').toBe(phase === 'baseline' || phase === 'intervention' ? phase : 'neither');
    }
  });
});
