/**
 * The few pieces of InfluxQL text the adapter builds, with every identifier and string
 * quoted here and nowhere else.
 *
 * Quoting follows the InfluxQL scanner (influxql/scanner.go ScanString): inside '...' and
 * "..." the only escapes are \\ \' \" and \n, and a raw newline ends the literal with an
 * error. So: backslash first, then the delimiter, then newlines. Identifiers are always
 * double-quoted, which also keeps keywords such as NAME usable as tag keys.
 */

const quoted = (s: string, quote: '"' | "'"): string => s.replaceAll('\\', '\\\\').replaceAll(quote, `\\${quote}`).replaceAll('\n', '\\n');

/** A measurement, tag or field name: `"name"`. */
export const ident = (name: string): string => `"${quoted(name, '"')}"`;

/** A string literal: `'it\'s'`. */
export const str = (value: string): string => `'${quoted(value, "'")}'`;

/** `("k" = 'a' OR "k" = 'b')`; callers handle the empty list (it matches nothing). */
export function anyOf(key: string, values: readonly string[]): string {
  if (values.length === 0) throw new Error(`anyOf(${key}): empty list`);
  return `(${values.map((v) => `${ident(key)} = ${str(v)}`).join(' OR ')})`;
}

/**
 * InfluxDB's valid timestamp range (models.MinNanoTime / MaxNanoTime). Queries that
 * aggregate default their upper bound to now(), which would hide device clocks running
 * ahead, so the adapter always states both bounds.
 */
export const MIN_NS = -9223372036854775806n;
export const MAX_NS = 9223372036854775806n;

/** Epoch ms (rounded up, as [from, to) bounds on integer ms allow) to ns, clamped to the valid range. */
export function nsOf(ms: number): bigint {
  const ns = BigInt(Math.ceil(ms)) * 1_000_000n;
  return ns < MIN_NS ? MIN_NS : ns > MAX_NS ? MAX_NS : ns;
}

/**
 * `time >= a AND time < b` in ns. InfluxQL cannot OR time conditions (1.x and 2.x
 * silently return nothing for `(time ...) OR (time ...)`), so every statement carries
 * exactly one range and disjoint ranges become separate statements.
 */
export function timeRange(fromMs: number | undefined, toMs: number | undefined): string {
  const from = fromMs === undefined ? MIN_NS : nsOf(fromMs);
  const to = toMs === undefined ? MAX_NS : nsOf(toMs);
  return `time >= ${from} AND time < ${to}`;
}
