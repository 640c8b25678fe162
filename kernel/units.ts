/**
 * UCUM units the hub stores, and the conversions into them. Vendors' own unit strings
 * are mapped to UCUM codes in their profile; this table only converts between UCUM codes.
 */
const FACTORS: Readonly<Record<string, { base: string; factor: number }>> = {
  kg: { base: 'kg', factor: 1 },
  g: { base: 'kg', factor: 0.001 },
  '[lb_av]': { base: 'kg', factor: 0.45359237 }, // international avoirdupois pound
  mL: { base: 'mL', factor: 1 },
  L: { base: 'mL', factor: 1000 },
  dL: { base: 'mL', factor: 100 },
  '/min': { base: '/min', factor: 1 },
  '%': { base: '%', factor: 1 },
  Cel: { base: 'Cel', factor: 1 },
  '1': { base: '1', factor: 1 },
  s: { base: 's', factor: 1 },
  min: { base: 's', factor: 60 },
  '{dose}': { base: '{dose}', factor: 1 },
};

export const isKnownUnit = (ucum: string): boolean => ucum in FACTORS;

/** A converter from `from` to `to`, or undefined when the two are not commensurable. */
export function converter(from: string, to: string): ((v: number) => number) | undefined {
  const a = FACTORS[from];
  const b = FACTORS[to];
  if (!a || !b || a.base !== b.base) return undefined;
  const k = a.factor / b.factor;
  return k === 1 ? (v) => v : (v) => v * k;
}
