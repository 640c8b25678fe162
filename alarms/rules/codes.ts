import type { AlarmRule } from '../../kernel/alarms.js';
import type { Severity } from '../../kernel/telemetry.js';

/**
 * The VKP alert code (vkp-alert-code-v090) and severity (vkp-severity-level-v090) of
 * each rule when the hub decides on its own; an event's own code, set in its profile,
 * wins where there is one.
 */
export const RULE_CODES: Readonly<Record<AlarmRule, { readonly alertCode: string; readonly severity: Severity }>> = {
  fall: { alertCode: '4.1', severity: 40 }, // Fall; always critical
  left_bed: { alertCode: '4.2', severity: 20 }, // Forlatt sengen
  sat_up: { alertCode: '4.3', severity: 20 }, // Satt seg opp seng
  long_stay: { alertCode: '4.7', severity: 30 }, // Uventet langt opphold (4.23 Inaktivitet bad from bathroom sensors)
  inactivity: { alertCode: '4.9', severity: 30 }, // Inaktivitet
  dose_missed: { alertCode: '1.3', severity: 30 }, // Mangler utleveringsbekreftelse: the hub saw no confirmation in the window
  dispenser_jam: { alertCode: '1.8', severity: 30 }, // Rull sitter fast
  dispenser_empty: { alertCode: '1.13', severity: 30 }, // Tomt for medisin
  refill_soon: { alertCode: '1.12', severity: 20 }, // Snart tomt for medisin
  lid_open: { alertCode: '1.21', severity: 20 }, // Dispenser åpen
  battery_low: { alertCode: '1.17', severity: 20 }, // Batteri lavt
  battery_empty: { alertCode: '1.18', severity: 30 }, // Batteri tomt
  mains_lost: { alertCode: '1.19', severity: 20 }, // Ikke tilkoblet strøm
  // VKP has no code for a measured value beyond a threshold: the group code 5 Digital hjemmeoppfølging.
  fluid_balance: { alertCode: '5', severity: 30 },
  weight_gain: { alertCode: '5', severity: 30 },
  missing_measurement: { alertCode: '5.3.2', severity: 20 }, // Måling ikke rapportert
  // 1.20 Ingen kontakt is VKP's only no-contact code; the hub uses it for every family.
  device_offline: { alertCode: '1.20', severity: 30 },
};
