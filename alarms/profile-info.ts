import type { ProfileSet } from '../device-profiles/load.js';
import { ALARM_EVENTS } from '../kernel/alarms.js';
import type { Family } from '../kernel/telemetry.js';
import type { ProfileAlarmInfo } from './rules/types.js';

/** What each loaded profile declares about alarms (device-profiles/schema.ts `alarms:`), with the hub's defaults. */
export function profileAlarmInfo(profiles: ProfileSet): Map<string, ProfileAlarmInfo> {
  const out = new Map<string, ProfileAlarmInfo>();
  for (const [id, { profile }] of profiles.decoders) {
    out.set(id, {
      family: profile.family as Family,
      expectedIntervalS: profile.expectedIntervalS,
      // Without an alarms section the hub judges every event it has a rule for.
      events: new Set(profile.alarms?.events ?? Object.keys(ALARM_EVENTS)),
      offlineAfter: profile.alarms?.offlineAfter ?? 3,
      batteryLowPct: profile.alarms?.batteryLowPct ?? 20,
    });
  }
  return out;
}
