import { z } from 'zod';
import { parseEnv } from '../kernel/config-env.js';

const validZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

const Env = z.object({
  // Time-of-day windows (bed exit at night, daily weight by 10:00) are ward time, not UTC.
  ALARM_TIME_ZONE: z.string().refine(validZone, 'not an IANA time zone').default('Europe/Oslo'),
  ALARM_TICK_S: z.coerce.number().int().min(1).max(300).default(5),
  // How far back a restart replays telemetry to rebuild rolling windows (fluid balance ≤ 72 h).
  ALARM_REPLAY_H: z.coerce.number().int().min(1).max(168).default(72),
});

export interface AlarmConfig {
  readonly timeZone: string;
  /** Offline silence, dose windows and daily measurements are checked this often. */
  readonly tickMs: number;
  readonly replayMs: number;
}

export function loadAlarmConfig(env: Readonly<Record<string, string | undefined>>): AlarmConfig {
  const c = parseEnv(Env, env);
  return Object.freeze({ timeZone: c.ALARM_TIME_ZONE, tickMs: c.ALARM_TICK_S * 1000, replayMs: c.ALARM_REPLAY_H * 3_600_000 });
}
