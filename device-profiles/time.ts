import type { TimeRule } from './schema.js';
import { type CompiledPath, parsePath, readPath } from './path.js';

/** Why a time could not be read; the caller turns it into TIME_INVALID at the field's path. */
export class TimeError extends Error {
  constructor(
    readonly path: CompiledPath,
    message: string,
  ) {
    super(message);
  }
}

type Format = TimeRule['format'];
export type TimeReader = (record: unknown, root: unknown, indices: readonly number[]) => number;

const WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const LOCAL = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/;

/** The zone's offset from UTC at `utcMs`, in ms, from the platform's time-zone data. */
function offsetAt(zone: Intl.DateTimeFormat, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const p of zone.formatToParts(utcMs)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour! % 24, parts.minute!, parts.second!);
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/**
 * A wall-clock time in `zone` to epoch ms. Across a DST change the offset at the first
 * guess may be the other side's, so it is read again at the result (the earlier of two
 * ambiguous times wins; a time in the spring gap moves forward by the gap).
 */
function localToUtc(text: string, zone: Intl.DateTimeFormat): number | null {
  const m = LOCAL.exec(text);
  if (!m) return null;
  const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +(m[6] ?? 0)) + (m[7] ? Math.round(Number(m[7]) * 1000) : 0);
  const first = wall - offsetAt(zone, wall);
  return wall - offsetAt(zone, first);
}

function reader(path: CompiledPath, format: Exclude<Format, 'relative_s' | 'relative_ms'>, zone: string | undefined): TimeReader {
  const tz =
    zone === undefined
      ? undefined
      : new Intl.DateTimeFormat('en-US', {
          timeZone: zone,
          hourCycle: 'h23',
          year: 'numeric',
          month: 'numeric',
          day: 'numeric',
          hour: 'numeric',
          minute: 'numeric',
          second: 'numeric',
        });
  const factor = format === 'epoch_s' ? 1000 : format === 'epoch_us' ? 0.001 : 1;
  return (record, root, indices) => {
    const raw = readPath(path.fromRoot ? root : record, path.segments, indices);
    let ms: number | null;
    if (format === 'iso8601') {
      // An offset is required: a local time without one is ambiguous across DST (use iso8601_local with a zone).
      if (typeof raw !== 'string' || !WITH_OFFSET.test(raw)) throw new TimeError(path, 'expected an ISO 8601 time with a Z or ±hh:mm offset');
      ms = Date.parse(raw);
    } else if (format === 'iso8601_local') {
      if (typeof raw !== 'string') throw new TimeError(path, `expected an ISO 8601 local time (in ${zone})`);
      ms = localToUtc(raw, tz!);
      if (ms === null) throw new TimeError(path, `expected an ISO 8601 local time without offset (read in ${zone})`);
    } else {
      if (typeof raw !== 'number' || !Number.isFinite(raw)) throw new TimeError(path, `expected a number (${format})`);
      ms = raw * factor;
    }
    if (!Number.isFinite(ms)) throw new TimeError(path, 'not a valid time');
    return Math.round(ms);
  };
}

/** Compiles a profile's time rule into a reader of epoch ms. */
export function timeReader(rule: TimeRule): TimeReader {
  const path = parsePath(rule.path)!;
  if (rule.format !== 'relative_s' && rule.format !== 'relative_ms') return reader(path, rule.format, rule.zone);
  const base = reader(parsePath(rule.base!.path)!, rule.base!.format, rule.zone);
  const factor = rule.format === 'relative_s' ? 1000 : 1;
  return (record, root, indices) => {
    const offset = readPath(path.fromRoot ? root : record, path.segments, indices);
    if (typeof offset !== 'number' || !Number.isFinite(offset)) throw new TimeError(path, `expected a number (${rule.format} from the base time)`);
    return base(record, root, indices) + Math.round(offset * factor);
  };
}
