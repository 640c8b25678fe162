import { ALARM_EVENTS, type AlarmRule } from '../../kernel/alarms.js';
import type { HubEvent } from '../../kernel/telemetry.js';
import { inWindows } from '../clock.js';
import { eventTime, num, placeOf, raise, sourceOf, subjectOf } from './common.js';
import type { RuleEnv, Signal } from './types.js';

/** Faults of the device itself: one alarm per device, whoever it measures. */
const DEVICE_RULES: ReadonlySet<AlarmRule> = new Set([
  'dispenser_jam',
  'dispenser_empty',
  'refill_soon',
  'lid_open',
  'battery_low',
  'battery_empty',
  'mains_lost',
]);

/** Event attributes worth showing on the alarm (zone, duration, slot...). */
const detailOf = (e: HubEvent) => ({ event: e.name, ...e.attributes });

/**
 * Events that open alarms, as the catalogue says (EventDef.alarm), with the event's code
 * and severity: fall (4.1, always critical), bed exit and sitting up (4.2, 4.3; per
 * participant and time of day), long stays (4.23/4.7; per participant, time of day and
 * minimum duration), inactivity (4.9), a dose the dispenser reports missed (1.1; alerting
 * whom the participant's settings name), dispenser faults (1.8, 1.12, 1.13, 1.17, 1.18,
 * 1.19, 1.21), and any other event with an alarm in the catalogue (an arena's own), one
 * open alarm per event and subject. The device's MQTT will (no_contact) is offline.ts's.
 */
export function eventSignals(e: HubEvent, env: RuleEnv): Signal[] {
  const place = placeOf(e);
  if (e.name === 'mains_restored') return [{ type: 'clear', key: `mains_lost|d:${e.deviceId}`, at: e.receivedAt, reason: 'mains power restored' }];
  if (!env.event(e.name)?.alarm) return [];
  const rule = ALARM_EVENTS[e.name] ?? 'event';
  if (rule === 'device_offline') return [];
  const profile = env.profile(e.profileId);
  if (profile && !profile.events.has(e.name)) return [];

  const s = env.settingsOf(e.participantId);
  const minute = env.clock.minuteOfDay(eventTime(e));
  switch (rule) {
    case 'left_bed':
      if (!s.bedExit.leftBed || !inWindows(minute, s.bedExit.windows)) return [];
      break;
    case 'sat_up':
      if (!s.bedExit.satUp || !inWindows(minute, s.bedExit.windows)) return [];
      break;
    case 'long_stay': {
      if (!s.longStay.enabled || !inWindows(minute, s.longStay.windows)) return [];
      const duration = num(e.attributes.duration_s);
      // Without a duration the device has judged the stay long itself.
      if (s.longStay.minDurationS !== null && duration !== null && duration < s.longStay.minDurationS) return [];
      break;
    }
    default:
      break;
  }
  const subject = DEVICE_RULES.has(rule) ? `d:${e.deviceId}` : subjectOf(place);
  return [
    raise(env, {
      rule,
      event: e.name,
      key: rule === 'event' ? `event:${e.name}|${subject}` : `${rule}|${subject}`,
      at: e.receivedAt,
      place,
      family: e.family,
      alertCode: e.alertCode,
      severity: rule === 'fall' ? 40 : e.severity,
      detail: detailOf(e),
      notify: rule === 'dose_missed' ? s.dose.notify : [],
      source: sourceOf(e),
    }),
  ];
}
