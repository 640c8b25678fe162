import type { AlarmPlace } from '../../kernel/alarms.js';
import type { Reading } from '../../kernel/telemetry.js';
import { minutesOf } from '../clock.js';
import { eventTime, raise } from './common.js';
import type { EvalState, RuleEnv, Signal } from './types.js';

const keyOf = (pid: string, measurement: string, day: string): string => `missing_measurement|p:${pid}|${measurement}|${day}`;

/** A reading the participant is expected to make daily arrived: today's missing-alarm is over. */
export function dailyOnReading(r: Reading, env: RuleEnv, state: EvalState): Signal[] {
  const pid = r.participantId;
  if (pid === null) return [];
  const at = eventTime(r);
  const k = `${pid}|${r.name}`;
  if ((state.lastMeasured.get(k) ?? -Infinity) < at) state.lastMeasured.set(k, at);
  if (!env.settingsOf(pid).daily.some((d) => d.measurement === r.name)) return [];
  return [{ type: 'clear', key: keyOf(pid, r.name, env.clock.day(at)), at: r.receivedAt, reason: `${r.name} reported` }];
}

/**
 * A measurement expected every day (e.g. the dialysis patient's morning weight) that has
 * not arrived by its local time: VKP 5.3.2 Måling ikke rapportert, once per day.
 */
export function dailyOnTick(now: number, env: RuleEnv, state: EvalState): Signal[] {
  const out: Signal[] = [];
  const day = env.clock.day(now);
  const minute = env.clock.minuteOfDay(now);
  for (const [pid, s] of env.allSettings()) {
    for (const { measurement, by } of s.daily) {
      if (minute < minutesOf(by)) continue;
      const last = state.lastMeasured.get(`${pid}|${measurement}`);
      if (last !== undefined && env.clock.day(last) === day) continue;
      const seen = state.places.get(pid);
      const place: AlarmPlace = seen?.place ?? { siteId: s.siteId, roomId: s.roomId, deviceId: null, trialId: null, participantId: pid };
      out.push(
        raise(env, {
          rule: 'missing_measurement',
          key: keyOf(pid, measurement, day),
          at: now,
          place: { ...place, roomId: place.roomId ?? s.roomId },
          family: seen?.family ?? 'fluid-balance',
          detail: { measurement, by, day },
          once: true,
        }),
      );
    }
  }
  return out;
}
