/**
 * The catalogue of normalised measurements and events. Profiles may only produce names
 * listed here, so dashboards, codebooks and alarm rules can rely on them.
 */
export interface MeasurementDef {
  readonly unit: string; // UCUM unit every stored value is in
  readonly label: string;
  readonly loinc?: string;
}

export const MEASUREMENTS: Readonly<Record<string, MeasurementDef>> = {
  body_weight: { unit: 'kg', label: 'Body weight', loinc: '29463-7' },
  fluid_intake: { unit: 'mL', label: 'Fluid intake volume', loinc: '9000-9' },
  fluid_output: { unit: 'mL', label: 'Fluid output volume', loinc: '9187-6' },
  respiratory_rate: { unit: '/min', label: 'Respiratory rate', loinc: '9279-1' },
  bed_occupied: { unit: '1', label: 'Bed occupied (1 yes, 0 no)' },
  battery_level: { unit: '%', label: 'Battery level' },
  mains_power: { unit: '1', label: 'On mains power (1 yes, 0 no)' },
  device_temperature: { unit: 'Cel', label: 'Device temperature' },
  device_uptime: { unit: 's', label: 'Device uptime' },
  doses_left: { unit: '{dose}', label: 'Doses left in the dispenser' },
};

export const EVENTS: Readonly<Record<string, string>> = {
  fall: 'Fall detected (SNOMED CT 1912002)',
  left_bed: 'Left the bed',
  sat_up: 'Sat up in bed',
  lay_down: 'Lay down in bed',
  rose_from_chair: 'Rose from a chair',
  entered_room: 'Entered the room',
  left_room: 'Left the room',
  long_stay: 'Unexpectedly long stay (e.g. bathroom)',
  inactivity: 'Inactivity',
  sensor_blocked: 'Sensor view blocked',
  dose_ready: 'Scheduled dose made available',
  dose_taken: 'Dose taken (confirmed)',
  dose_missed: 'Dose not taken within its window',
  prn_taken: 'As-needed dose taken',
  travel_dispensed: 'Doses dispensed for travel',
  refill_soon: 'Refill soon',
  empty: 'Dispenser empty',
  jam: 'Dispenser jammed',
  lid_open: 'Lid or door open',
  mains_lost: 'Mains power lost',
  mains_restored: 'Mains power restored',
  battery_low: 'Battery low',
  battery_empty: 'Battery empty',
  no_contact: 'No contact with the device',
  // Written by the hub's alarm engine (alarms/dataset-events.ts), so alarms reach trial datasets as events.
  alarm_raised: 'Alarm raised by the hub',
  alarm_acknowledged: 'Alarm acknowledged by a clinician',
  alarm_resolved: 'Alarm resolved',
  alarm_false_alarm: 'Alarm marked as a false alarm',
};
