/** Nearest-rank percentile of the first n values (sorts a copy). */
export function percentiles(values: Float64Array, n: number, ps: readonly number[]): number[] {
  if (n === 0) return ps.map(() => NaN);
  const sorted = values.slice(0, n).sort();
  return ps.map((p) => sorted[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))]!);
}

/**
 * Sustained rate from per-interval counts: the middle 80 % of the busy span, so the
 * ramp-up of the first publishes and the tail of the last connections do not count.
 */
export function sustainedRate(buckets: readonly number[], bucketMs: number): number {
  const total = buckets.reduce((a, b) => a + (b ?? 0), 0);
  if (total === 0) return 0;
  const lo = Math.floor(buckets.length * 0.1);
  const hi = Math.max(lo + 1, Math.ceil(buckets.length * 0.9));
  let n = 0;
  for (let i = lo; i < hi; i++) n += buckets[i] ?? 0;
  return n / (((hi - lo) * bucketMs) / 1000);
}

export const round = (v: number, digits = 0): number => {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
};
