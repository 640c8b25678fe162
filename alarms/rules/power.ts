import type { Reading } from '../../kernel/telemetry.js';
import { placeOf, raise, sourceOf } from './common.js';
import type { RuleEnv, Signal } from './types.js';

/** Hysteresis: a battery must climb this far above the threshold before its alarm clears. */
const BATTERY_CLEAR_MARGIN = 5;

/**
 * Device health from readings, for every family: battery_level at or below the
 * profile's batteryLowPct (VKP 1.17 Batteri lavt), at 0 (1.18 Batteri tomt), and
 * mains_power 0 (1.19 Ikke tilkoblet strøm). Recovery resolves them.
 */
export function powerSignals(r: Reading, env: RuleEnv): Signal[] {
  const device = `d:${r.deviceId}`;
  const common = { at: r.receivedAt, place: placeOf(r), family: r.family, source: sourceOf(r) };
  if (r.name === 'battery_level') {
    const low = env.profile(r.profileId)?.batteryLowPct ?? 20;
    const detail = { batteryPct: r.value, thresholdPct: low };
    if (r.value <= 0) return [raise(env, { ...common, rule: 'battery_empty', key: `battery_empty|${device}`, detail })];
    if (r.value <= low) return [raise(env, { ...common, rule: 'battery_low', key: `battery_low|${device}`, detail })];
    if (r.value > low + BATTERY_CLEAR_MARGIN) {
      return ['battery_low', 'battery_empty'].map((rule) => ({ type: 'clear', key: `${rule}|${device}`, at: r.receivedAt, reason: `battery at ${r.value} %` }));
    }
    return [];
  }
  if (r.name === 'mains_power') {
    if (r.value === 0) return [raise(env, { ...common, rule: 'mains_lost', key: `mains_lost|${device}` })];
    return [{ type: 'clear', key: `mains_lost|${device}`, at: r.receivedAt, reason: 'mains power restored' }];
  }
  return [];
}
