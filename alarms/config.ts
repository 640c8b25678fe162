import { z } from 'zod';
import { int, parseEnv } from '../service/config.js';

const validZone = (tz: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};

/** The alarm engine's variables; the process that hosts the engine parses them with its own. */
export const AlarmEnv = z.object({
  // Time-of-day windows (bed exit at night, daily weight by 10:00) are ward time, not UTC.
  ALARM_TIME_ZONE: z.string().refine(validZone, 'must be an IANA time zone such as Europe/Oslo').default('Europe/Oslo'),
  ALARM_TICK_S: int(5, 1, 300),
  // How far back a restart replays telemetry to rebuild rolling windows (fluid balance ≤ 72 h).
  ALARM_REPLAY_H: int(72, 1, 168),
});

export interface AlarmConfig {
  readonly timeZone: string;
  /** Offline silence, dose windows and daily measurements are checked this often. */
  readonly tickMs: number;
  readonly replayMs: number;
}

export const alarmConfig = (c: z.output<typeof AlarmEnv>): AlarmConfig =>
  Object.freeze({ timeZone: c.ALARM_TIME_ZONE, tickMs: c.ALARM_TICK_S * 1000, replayMs: c.ALARM_REPLAY_H * 3_600_000 });

export const loadAlarmConfig = (env: Readonly<Record<string, string | undefined>>): AlarmConfig => alarmConfig(parseEnv(AlarmEnv, env));
