import type { ProfileSet } from '../device-profiles/load.js';
import type { Family } from '../kernel/telemetry.js';
import type { ProfileAlarmInfo } from './rules/types.js';

/** What each loaded profile declares about alarms (device-profiles/schema.ts `alarms:`), with the hub's defaults. */
export function profileAlarmInfo(profiles: ProfileSet): Map<string, ProfileAlarmInfo> {
  const out = new Map<string, ProfileAlarmInfo>();
  const alarmEvents = [...profiles.catalogue.events.values()].filter((e) => e.alarm).map((e) => e.name);
  for (const [id, { profile }] of profiles.decoders) {
    out.set(id, {
      family: profile.family as Family,
      expectedIntervalS: profile.expectedIntervalS,
      // Without an alarms section every event the catalogue gives an alarm opens one.
      events: new Set(profile.alarms?.events ?? alarmEvents),
      offlineAfter: profile.alarms?.offlineAfter ?? 3,
      batteryLowPct: profile.alarms?.batteryLowPct ?? 20,
    });
  }
  return out;
}
