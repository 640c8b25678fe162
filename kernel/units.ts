import ucum from '@lhncbc/ucum-lhc';

/**
 * UCUM units (http://unitsofmeasure.org) through the LHC's reference implementation:
 * any valid unit a vendor declares is accepted and converted into the catalogue's unit
 * when the two are commensurable. Conversions are resolved once, at profile load, into
 * `a·v + b` (every UCUM conversion but the logarithmic ones is affine), so decoding
 * never calls the library.
 */
const utils = ucum.UcumLhcUtils.getInstance();

export type Convert = (v: number) => number;

/** Why `unit` is not a UCUM unit, or null when it is one. UCUM codes are case-sensitive (§2.1). */
export function unitProblem(unit: string): string | null {
  const r = utils.validateUnitString(unit);
  if (r.status === 'valid' && r.ucumCode === unit) return null;
  if (r.status === 'valid') return `"${unit}" is not a UCUM code as written; did you mean "${r.ucumCode}"?`;
  return `"${unit}" is not a UCUM unit${r.msg.length ? `: ${r.msg.join('; ')}` : ''}`;
}

const rounded = (x: number): number => Number(x.toPrecision(12));

/** A converter from `from` to `to`, or why there is none (an invalid unit, or the two are not commensurable). */
export function converter(from: string, to: string): { readonly ok: true; readonly convert: Convert } | { readonly ok: false; readonly reason: string } {
  const bad = unitProblem(from) ?? unitProblem(to);
  if (bad) return { ok: false, reason: bad };
  if (from === to) return { ok: true, convert: (v) => v };
  const at = (v: number): number | null => {
    const r = utils.convertUnitTo(from, v, to);
    return r.status === 'succeeded' ? r.toVal : null;
  };
  const y0 = at(0);
  const y1 = at(1);
  const y2 = at(1000);
  if (y0 === null || y1 === null || y2 === null) return { ok: false, reason: `${from} cannot be converted to ${to} (not commensurable)` };
  const a = rounded(y1 - y0);
  const b = rounded(y0);
  if (Math.abs(y2 - (a * 1000 + b)) > 1e-9 * Math.max(1, Math.abs(y2))) {
    return { ok: true, convert: (v) => at(v) ?? Number.NaN };
  }
  // Dividing by a whole divisor keeps decimal values exact (74710 g / 1000 = 74.71, where × 0.001 gives 74.71000000000001).
  const divisor = rounded(1 / a);
  const scale: Convert = a === 1 ? (v) => v : Number.isInteger(divisor) ? (v) => v / divisor : (v) => v * a;
  if (b === 0) return { ok: true, convert: scale };
  return { ok: true, convert: (v) => scale(v) + b };
}
