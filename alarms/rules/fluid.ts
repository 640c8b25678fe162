import type { Reading } from '../../kernel/telemetry.js';
import { eventTime, placeOf, raise, sourceOf } from './common.js';
import { TimeWindow } from './time-window.js';
import type { EvalState, RuleEnv, Signal } from './types.js';

const HOUR = 3_600_000;
/** The longest window a clinician may set (AlarmSettingsInput fluid.windowH). */
const KEEP_MS = 72 * HOUR;
const round = (v: number, digits: number): number => Number(v.toFixed(digits));

/**
 * Fluid balance for dialysis patients, thresholds set per participant by the clinician:
 * net intake minus output over a rolling window (fluid_intake / fluid_output, LOINC
 * 9000-9 / 9187-6, mL), and body weight against the target (dry) weight (LOINC
 * 29463-7, kg). VKP has no threshold code; the alarm carries the group code 5.
 */
export function fluidSignals(r: Reading, env: RuleEnv, state: EvalState): Signal[] {
  const pid = r.participantId;
  if (pid === null) return [];
  const s = env.settingsOf(pid);
  const at = eventTime(r);
  const common = { at: r.receivedAt, place: placeOf(r), family: r.family, source: sourceOf(r) };

  if (r.name === 'fluid_intake' || r.name === 'fluid_output') {
    let window = state.fluid.get(pid);
    if (!window) state.fluid.set(pid, (window = new TimeWindow(KEEP_MS)));
    window.add(at, r.name === 'fluid_intake' ? r.value : -r.value);

    const { windowH, maxNetGainMl, maxNetLossMl } = s.fluid;
    if (maxNetGainMl === null && maxNetLossMl === null) return [];
    const net = window.sum(at - windowH * HOUR, at);
    const detail = { netMl: round(net, 0), windowH };
    if (maxNetGainMl !== null && net > maxNetGainMl) {
      return [
        raise(env, { ...common, rule: 'fluid_balance', key: `fluid_balance|p:${pid}|gain`, detail: { ...detail, direction: 'gain', limitMl: maxNetGainMl } }),
      ];
    }
    if (maxNetLossMl !== null && -net > maxNetLossMl) {
      return [
        raise(env, { ...common, rule: 'fluid_balance', key: `fluid_balance|p:${pid}|loss`, detail: { ...detail, direction: 'loss', limitMl: maxNetLossMl } }),
      ];
    }
    return [];
  }

  if (r.name === 'body_weight') {
    const { targetKg, maxGainKg } = s.weight;
    if (targetKg === null || maxGainKg === null) return [];
    const gain = r.value - targetKg;
    if (gain <= maxGainKg) return [];
    const detail = { weightKg: round(r.value, 2), targetKg, gainKg: round(gain, 2), limitKg: maxGainKg };
    return [raise(env, { ...common, rule: 'weight_gain', key: `weight_gain|p:${pid}`, detail })];
  }
  return [];
}
