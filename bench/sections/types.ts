import type { BenchConfig, SectionId } from '../config.js';
import type { BenchContext } from '../context.js';

/**
 * A target from the issue: `goal` is what we aim for, `limit` the worst acceptable.
 * `on` says whether the row's value or its ratio to the baseline is judged.
 */
export interface Target {
  readonly better: 'higher' | 'lower';
  readonly goal: number;
  readonly limit: number;
  readonly on: 'value' | 'ratio';
  readonly unit: string;
}

export type Verdict = 'pass' | 'within limit' | 'FAIL' | 'n/a' | 'info';

export interface Row {
  readonly section: SectionId;
  readonly figure: string;
  /** null: not measured (feature missing or phase failed); `note` says why. */
  readonly value: number | null;
  readonly unit: string;
  readonly baseline?: { readonly label: string; readonly value: number | null };
  readonly target?: Target;
  readonly note?: string;
}

export interface Section {
  readonly id: SectionId;
  readonly title: string;
  /**
   * Measures and returns table rows, plus details for the JSON. Throwing marks the
   * section failed without stopping the others.
   */
  run(ctx: BenchContext, config: BenchConfig): Promise<{ rows: Row[]; details: Record<string, unknown> }>;
}

export const ratioOf = (row: Row): number | null =>
  row.value === null || !row.baseline || row.baseline.value === null || row.baseline.value === 0 ? null : row.value / row.baseline.value;

export function verdictOf(row: Row): Verdict {
  if (row.value === null) return 'n/a';
  const t = row.target;
  if (!t) return 'info';
  const v = t.on === 'ratio' ? ratioOf(row) : row.value;
  if (v === null) return 'n/a';
  const meets = (bound: number) => (t.better === 'higher' ? v >= bound : v <= bound);
  return meets(t.goal) ? 'pass' : meets(t.limit) ? 'within limit' : 'FAIL';
}

/** A row for a feature that is not in the hub yet. */
export const notBuilt = (section: SectionId, figure: string, unit: string, why = 'not built yet', target?: Target): Row => ({
  section,
  figure,
  value: null,
  unit,
  note: `n/a (${why})`,
  ...(target ? { target } : {}),
});
