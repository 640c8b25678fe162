import { ratioOf, verdictOf, type Row, type Target } from './sections/types.js';

const fmt = (v: number | null, unit: string): string => {
  if (v === null || Number.isNaN(v)) return 'n/a';
  const digits = Math.abs(v) >= 100 ? 0 : Math.abs(v) >= 10 ? 1 : 2;
  const s = v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit ? `${s} ${unit}` : s;
};

const targetText = (t: Target | undefined): string => {
  if (!t) return '';
  const op = t.better === 'higher' ? '≥' : '≤';
  const u = t.on === 'ratio' ? '×' : ` ${t.unit}`;
  const n = (x: number) => (t.on === 'ratio' ? x.toFixed(1) : x.toLocaleString('en-US'));
  return t.goal === t.limit ? `${op} ${n(t.goal)}${u}` : `${op} ${n(t.goal)}${u} (at worst ${n(t.limit)})`;
};

/** Phase, figure, value, baseline, ratio, target, verdict: one line per row. */
export function table(rows: readonly Row[]): string {
  const header = ['phase', 'figure', 'value', 'baseline', 'ratio', 'target', 'verdict'];
  const lines = rows.map((r) => {
    const ratio = ratioOf(r);
    return [
      r.section,
      r.figure,
      r.value === null ? (r.note ?? 'n/a') : fmt(r.value, r.unit),
      r.baseline ? `${fmt(r.baseline.value, r.unit)} (${r.baseline.label})` : '',
      ratio === null ? '' : `${ratio.toFixed(2)}×`,
      targetText(r.target),
      verdictOf(r),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join(' | ')
      .trimEnd();
  const notes = rows.filter((r) => r.value !== null && r.note).map((r) => `  ${r.section} / ${r.figure}: ${r.note}`);
  return [line(header), widths.map((w) => '-'.repeat(w)).join('-|-'), ...lines.map(line), ...(notes.length ? ['', 'notes:', ...notes] : [])].join('\n');
}

export const jsonRow = (r: Row) => ({ ...r, ratio: ratioOf(r), verdict: verdictOf(r) });
