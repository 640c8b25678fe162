import type { Point } from '../../kernel/telemetry.js';
import { placeOf, raise, sourceOf } from './common.js';
import type { DeviceMemory, EvalState, RuleEnv, Signal } from './types.js';

const keyOf = (deviceId: string): string => `device_offline|d:${deviceId}`;

function memoryOf(p: Point, state: EvalState): DeviceMemory {
  let m = state.devices.get(p.deviceId);
  if (!m) {
    m = { deviceId: p.deviceId, profileId: p.profileId, family: p.family, place: placeOf(p), lastSeenAt: null, offlineSince: null, battery: null, mains: null };
    state.devices.set(p.deviceId, m);
  }
  return m;
}

/**
 * Device offline by its MQTT will: the broker publishes the will a device left at
 * CONNECT when its connection dies without DISCONNECT [MQTT-3.1.2-8], and the profile
 * maps it to the no_contact event (VKP 1.20 Ingen kontakt). Any other point means the
 * device is heard from: it is online again and its offline alarm resolves.
 */
export function offlineOnPoint(p: Point, env: RuleEnv, state: EvalState): Signal[] {
  const m = memoryOf(p, state);
  m.profileId = p.profileId;
  m.family = p.family;
  m.place = placeOf(p);
  if (p.kind === 'event' && p.name === 'no_contact') {
    if (m.offlineSince !== null) return [];
    m.offlineSince = p.receivedAt;
    const profile = env.profile(p.profileId);
    if (profile && !profile.events.has('no_contact')) return [];
    const detail = { via: 'will', ...(m.lastSeenAt === null ? {} : { lastSeenAt: new Date(m.lastSeenAt).toISOString() }) };
    return [
      raise(env, {
        rule: 'device_offline',
        key: keyOf(p.deviceId),
        at: p.receivedAt,
        place: m.place,
        family: p.family,
        alertCode: p.alertCode,
        severity: p.severity,
        detail,
        source: sourceOf(p),
      }),
    ];
  }
  m.lastSeenAt = Math.max(m.lastSeenAt ?? -Infinity, p.receivedAt);
  if (p.kind === 'reading' && p.name === 'battery_level') m.battery = p.value;
  if (p.kind === 'reading' && p.name === 'mains_power') m.mains = p.value === 1;
  if (p.kind === 'event' && p.name === 'mains_lost') m.mains = false;
  if (p.kind === 'event' && p.name === 'mains_restored') m.mains = true;
  // A point from before the device went silent (a replay, a late redelivery) does not bring it back.
  if (m.offlineSince === null || p.receivedAt < m.offlineSince) return [];
  m.offlineSince = null;
  return [{ type: 'clear', key: keyOf(p.deviceId), at: p.receivedAt, reason: 'the device reported again' }];
}

/**
 * Device offline by silence: nothing for the profile's expectedIntervalS × offlineAfter
 * (VKP 1.20 Ingen kontakt). A device never heard from has not gone offline.
 */
export function offlineOnTick(now: number, env: RuleEnv, state: EvalState): Signal[] {
  const out: Signal[] = [];
  for (const m of state.devices.values()) {
    if (m.offlineSince !== null || m.lastSeenAt === null) continue;
    const profile = env.profile(m.profileId);
    if (!profile) continue;
    const limitMs = profile.expectedIntervalS * profile.offlineAfter * 1000;
    if (now - m.lastSeenAt <= limitMs) continue;
    m.offlineSince = now;
    const detail = { via: 'silence', lastSeenAt: new Date(m.lastSeenAt).toISOString(), silentS: Math.round((now - m.lastSeenAt) / 1000) };
    out.push(raise(env, { rule: 'device_offline', key: keyOf(m.deviceId), at: now, place: m.place, family: m.family, detail }));
  }
  return out;
}
