/** 95 % intervals for the report's comparisons. */

const Z = 1.959963984540054;

export interface Interval {
  readonly low: number;
  readonly high: number;
}

/** Wilson score interval of k successes in n (Wilson 1927); null when n is 0. */
export function wilson(k: number, n: number): Interval | null {
  if (n <= 0) return null;
  const p = k / n;
  const z2 = Z * Z;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z / (1 + z2 / n)) * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/**
 * Difference of two proportions p2 − p1 with the Newcombe hybrid score interval
 * (Newcombe 1998, method 10), built from the two Wilson intervals.
 */
export function proportionDifference(k1: number, n1: number, k2: number, n2: number): { estimate: number; ci: Interval } | null {
  const w1 = wilson(k1, n1);
  const w2 = wilson(k2, n2);
  if (!w1 || !w2) return null;
  const p1 = k1 / n1;
  const p2 = k2 / n2;
  const d = p2 - p1;
  return {
    estimate: d,
    ci: { low: d - Math.sqrt((p2 - w2.low) ** 2 + (w1.high - p1) ** 2), high: d + Math.sqrt((w2.high - p2) ** 2 + (p1 - w1.low) ** 2) },
  };
}

/**
 * Rate ratio (a/t2 over b/t1: intervention over baseline) with the Wald interval on the
 * log scale, se = √(1/a + 1/b), for Poisson counts. Undefined when either count is 0 or
 * either exposure is: then null, and the report shows the rates alone.
 */
export function rateRatio(
  baselineCount: number,
  baselineExposure: number,
  interventionCount: number,
  interventionExposure: number,
): { estimate: number; ci: Interval } | null {
  if (baselineCount <= 0 || interventionCount <= 0 || baselineExposure <= 0 || interventionExposure <= 0) return null;
  const rr = interventionCount / interventionExposure / (baselineCount / baselineExposure);
  const se = Math.sqrt(1 / baselineCount + 1 / interventionCount);
  return { estimate: rr, ci: { low: rr * Math.exp(-Z * se), high: rr * Math.exp(Z * se) } };
}
