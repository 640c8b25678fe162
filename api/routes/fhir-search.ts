import { HubError } from '../../kernel/errors.js';

/**
 * FHIR R4 search parameters as integration engines send them (§3.1.1.5 Search): each may
 * repeat (date=ge…&date=le…). Parameters a route does not know are refused rather than
 * ignored: a client that believes it filtered must not receive everything.
 */
export type SearchQuery = Readonly<Record<string, readonly string[]>>;

export function searchQuery(raw: unknown, allowed: readonly string[]): SearchQuery {
  const out: Record<string, string[]> = {};
  for (const [key, value] of Object.entries((raw ?? {}) as Record<string, string | string[]>)) {
    if (!allowed.includes(key)) throw new HubError('VALIDATION_FAILED', `unknown search parameter "${key}"; this resource answers ${allowed.join(', ')}`);
    out[key] = Array.isArray(value) ? value : [value];
  }
  return out;
}

/** The one value of a parameter that may not repeat. */
export function single(q: SearchQuery, name: string): string | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (v.length !== 1) throw new HubError('VALIDATION_FAILED', `${name} may be given once`);
  return v[0];
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

/** _count (§3.1.1.5.7): entries per page, bounded so that one page stays one small response. */
export function countOf(q: SearchQuery): number {
  const v = single(q, '_count');
  if (v === undefined) return DEFAULT_COUNT;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new HubError('VALIDATION_FAILED', '_count must be a whole number from 1');
  return Math.min(n, MAX_COUNT);
}

const DATE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2}))?)?)?$/;

/**
 * A FHIR date or dateTime as the half-open interval of instants its precision covers
 * (§3.1.1.5.8: "2026-03" is all of March). A date without a time is read in UTC; a time
 * must carry its offset.
 */
function dateRange(value: string): { from: number; to: number } {
  const m = DATE.exec(value);
  if (!m) throw new HubError('VALIDATION_FAILED', `"${value}" is not a FHIR date or dateTime with an offset`);
  const [, y, mo, d, h, , s, frac] = m;
  if (h !== undefined) {
    const from = Date.parse(value);
    if (Number.isNaN(from)) throw new HubError('VALIDATION_FAILED', `"${value}" is not a time that exists`);
    const step = frac !== undefined ? 1 : s !== undefined ? 1000 : 60_000;
    return { from, to: from + step };
  }
  const year = Number(y);
  const month = mo === undefined ? 0 : Number(mo) - 1;
  const day = d === undefined ? 1 : Number(d);
  const from = Date.UTC(year, month, day);
  const check = new Date(from);
  if (check.getUTCMonth() !== month || check.getUTCDate() !== day) throw new HubError('VALIDATION_FAILED', `"${value}" is not a date that exists`);
  const to = d !== undefined ? Date.UTC(year, month, day + 1) : mo !== undefined ? Date.UTC(year, month + 1, 1) : Date.UTC(year + 1, 0, 1);
  return { from, to };
}

/** Every value of a date parameter (ge, gt, le, lt, eq prefixes; §3.1.1.5.8) narrowed into one [from, to). */
export function dateBounds(values: readonly string[] | undefined): { from: number; to: number } {
  let from = Number.NEGATIVE_INFINITY;
  let to = Number.POSITIVE_INFINITY;
  for (const raw of values ?? []) {
    const prefix = /^(eq|ge|gt|le|lt)/.exec(raw)?.[1] ?? 'eq';
    const { from: f, to: t } = dateRange(raw.replace(/^(eq|ge|gt|le|lt)/, ''));
    if (prefix === 'eq' || prefix === 'ge') from = Math.max(from, f);
    if (prefix === 'eq' || prefix === 'lt') to = Math.min(to, prefix === 'eq' ? t : f);
    if (prefix === 'gt') from = Math.max(from, t);
    if (prefix === 'le') to = Math.min(to, t);
  }
  return { from, to };
}

/** A token (§3.1.1.5.9): system|code, |code (no system), or code (any system). */
export function tokens(values: readonly string[] | undefined): { system: string | undefined; code: string }[] {
  return (values ?? []).flatMap((v) =>
    v.split(',').map((t) => {
      const bar = t.indexOf('|');
      return bar < 0 ? { system: undefined, code: t } : { system: t.slice(0, bar), code: t.slice(bar + 1) };
    }),
  );
}

/** The logical identifier a subject or patient search names (subject:identifier=system|value, or subject=system|value). */
export function identifierParam(q: SearchQuery, names: readonly string[]): { system: string; value: string } | undefined {
  const given = names.flatMap((n) => [...(q[n] ?? []), ...(q[`${n}:identifier`] ?? [])]);
  if (given.length === 0) return undefined;
  if (given.length > 1) throw new HubError('VALIDATION_FAILED', `name one subject (${names.join(' or ')}) once`);
  const [t] = tokens(given);
  if (!t || t.system === undefined || t.code === '') throw new HubError('VALIDATION_FAILED', `${names[0]} takes an identifier as system|value`);
  return { system: t.system, value: t.code };
}

/** §3.1.1.5.10: when the resource last changed; indexed by name, since a dotted underscore field reads as a reach into a private one (tests/architecture). */
export const LAST_UPDATED = '_lastUpdated';

/** Where the next page starts: an opaque position the route chose (a cursor or an offset). */
export const PAGE = '_page';

/** The self URL, and the same search from another page. */
export function pageLinks(base: string, path: string, q: SearchQuery, next: string | null): { self: string; next: string | null } {
  const params = (page: string | null): string => {
    const s = new URLSearchParams();
    for (const [k, vs] of Object.entries(q)) if (k !== PAGE) for (const v of vs) s.append(k, v);
    if (page !== null) s.append(PAGE, page);
    const text = s.toString();
    return text ? `?${text}` : '';
  };
  return { self: `${base}${path}${params(single(q, PAGE) ?? null)}`, next: next === null ? null : `${base}${path}${params(next)}` };
}

/** An offset page of a list the route has in memory (alarms, devices, consents: bounded by the registry). */
export function offsetPage<T>(items: readonly T[], q: SearchQuery): { page: T[]; next: string | null } {
  const raw = single(q, PAGE) ?? '0';
  const offset = Number(raw);
  if (!/^\d{1,9}$/.test(raw)) throw new HubError('VALIDATION_FAILED', `${PAGE} is not a page of this search`);
  const count = countOf(q);
  return { page: items.slice(offset, offset + count), next: offset + count < items.length ? String(offset + count) : null };
}
