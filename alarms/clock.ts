import type { TimeWindow } from '../kernel/alarms.js';

/** Wall-clock reading of an instant in the ward's time zone; DST is the zone's business, not ours. */
export interface LocalClock {
  /** Minutes since local midnight, 0..1439. */
  minuteOfDay(ms: number): number;
  /** The local calendar day, YYYY-MM-DD. */
  day(ms: number): string;
}

export function localClock(timeZone: string): LocalClock {
  const fmt = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const parts = (ms: number): Record<string, string> => Object.fromEntries(fmt.formatToParts(ms).map((p) => [p.type, p.value]));
  return {
    minuteOfDay(ms) {
      const p = parts(ms);
      return Number(p.hour) * 60 + Number(p.minute);
    },
    day(ms) {
      const p = parts(ms);
      return `${p.year}-${p.month}-${p.day}`;
    },
  };
}

export const minutesOf = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Whether a local minute lies in one of the windows; no windows means always. */
export function inWindows(minute: number, windows: readonly TimeWindow[]): boolean {
  if (windows.length === 0) return true;
  return windows.some(({ from, to }) => {
    const [f, t] = [minutesOf(from), minutesOf(to)];
    if (f === t) return true;
    return f < t ? minute >= f && minute < t : minute >= f || minute < t;
  });
}
