import type { Severity } from './telemetry.js';

/**
 * The catalogue of normalised measurements, events, device families and zones. It is data
 * (catalogue/*.yaml shipped with the hub, plus an arena's own files), loaded at start
 * and again on SIGHUP (device-profiles/catalogue.ts, catalogue-reload.ts); profiles may
 * only produce names it lists, so dashboards, codebooks and alarm rules can rely on them.
 */
export interface Labels {
  readonly en: string;
  readonly nb: string;
}

export type ValueType = 'number' | 'integer' | 'boolean';

export interface MeasurementDef {
  readonly name: string;
  /** UCUM unit every stored value is in. */
  readonly unit: string;
  readonly type: ValueType;
  /** Plausible values, in `unit`; a reading outside is rejected. */
  readonly range: readonly [number, number] | null;
  readonly loinc: string | null;
  readonly snomed: string | null;
  readonly label: Labels;
  /** The catalogue file that defines it. */
  readonly source: string;
}

export interface EventDef {
  readonly name: string;
  readonly label: Labels;
  /** VKP alert code (vkp-alert-code-v090) a profile's mapping inherits unless it names one. */
  readonly alert: string | null;
  /** VKP medication-dispense event code (vkp-medicationdispense-events-v090), likewise. */
  readonly dispense: string | null;
  readonly snomed: string | null;
  readonly severity: Severity;
  /**
   * Whether the event opens an alarm (alarms/rules/events.ts): the catalogue says so, by
   * default every event with an alert code. The alarm carries the event's code and
   * severity unless the profile's mapping names its own.
   */
  readonly alarm: boolean;
  readonly source: string;
}

export interface FamilyDef {
  readonly name: string;
  readonly label: Labels;
  readonly source: string;
}

/** A place in a room that devices report (an event's `zone` attribute: bed, bathroom...), named for people. */
export interface ZoneDef {
  readonly name: string;
  readonly label: Labels;
  readonly source: string;
}

export interface Catalogue {
  readonly measurements: ReadonlyMap<string, MeasurementDef>;
  readonly events: ReadonlyMap<string, EventDef>;
  readonly families: ReadonlyMap<string, FamilyDef>;
  readonly zones: ReadonlyMap<string, ZoneDef>;
}
