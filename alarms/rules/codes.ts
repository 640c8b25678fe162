import type { AlarmRule } from '../../kernel/alarms.js';
import type { Catalogue } from '../../kernel/measurements.js';

/** The hub's own rules; 'event' reports whichever event raised it. */
export type HubRule = Exclude<AlarmRule, 'event'>;

/**
 * The catalogue event each rule reports when the hub decides by itself (a timer, a
 * threshold, a reading): its VKP alert code (vkp-alert-code-v090), severity
 * (vkp-severity-level-v090) and labels are the alarm's, read from the catalogue
 * (catalogue/events.yaml). An alarm a device's event raised reports that event instead.
 */
export const RULE_EVENTS: Readonly<Record<HubRule, string>> = {
  fall: 'fall',
  left_bed: 'left_bed',
  sat_up: 'sat_up',
  long_stay: 'long_stay',
  inactivity: 'inactivity',
  // 1.3 Mangler utleveringsbekreftelse: the hub saw no confirmation in the window (a dispenser's own dose_missed is 1.1).
  dose_missed: 'dose_unconfirmed',
  dispenser_jam: 'jam',
  dispenser_empty: 'empty',
  refill_soon: 'refill_soon',
  lid_open: 'lid_open',
  battery_low: 'battery_low',
  battery_empty: 'battery_empty',
  mains_lost: 'mains_lost',
  fluid_balance: 'fluid_balance_exceeded',
  weight_gain: 'weight_above_target',
  missing_measurement: 'measurement_missing',
  // 1.20 Ingen kontakt is VKP's only no-contact code; the hub uses it for every family.
  device_offline: 'no_contact',
};

/** What a catalogue lacks for the hub's rules: each rule's event, with an alert code. Checked at start and on every catalogue change. */
export function ruleEventProblems(catalogue: Catalogue): string[] {
  return Object.entries(RULE_EVENTS).flatMap(([rule, name]) => {
    const def = catalogue.events.get(name);
    if (!def) return [`alarm rule ${rule}: the catalogue has no event "${name}"`];
    return def.alert === null ? [`alarm rule ${rule}: the catalogue's event "${name}" has no VKP alert code`] : [];
  });
}
