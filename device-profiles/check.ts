import { z } from 'zod';
import type { Catalogue } from '../kernel/measurements.js';
import { converter } from '../kernel/units.js';
import { VKP_ALERT, VKP_DISPENSE } from '../kernel/vkp.js';

export interface ProfileIssue {
  /** Where in the profile document, in the path notation of device-profiles/path.ts. */
  readonly path: string;
  readonly message: string;
}

const validZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

const schemaProblem = (schema: Record<string, unknown>): string | null => {
  try {
    z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
    return null;
  } catch (e) {
    return `not a usable JSON Schema: ${(e as Error).message}`;
  }
};

/** The document as far as it can be read: a field of the wrong kind reads as absent here (the profile language reports it). */
const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const obj = (v: unknown): Record<string, unknown> => (isObj(v) ? v : {});
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * Checks a profile document against the catalogue and the code lists: every problem at
 * once, each with its path. It reads the raw document, so that a profile with faults in
 * its language (schema.ts) as well gets both kinds reported together; what is not of
 * the right kind to look up is left to the language's report. Units must be valid UCUM
 * and commensurable with the catalogue's unit for the measurement; both units are named
 * when they are not.
 */
export function checkProfile(doc: unknown, catalogue: Catalogue): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  const at = (path: string, message: string) => issues.push({ path, message });
  const p = obj(doc);
  const family = text(p.family);
  if (family !== undefined && !catalogue.families.has(family)) at('family', `"${family}" is not a device family of the catalogue`);
  const produced = new Set<string>();
  const shapes = Array.isArray(p.shapes) ? p.shapes.map((shape, i) => [obj(shape), `shapes[${i}].`] as const) : [[p, ''] as const];
  for (const [shape, where] of shapes) {
    const schema = isObj(shape.payload) && schemaProblem(shape.payload);
    if (schema) at(`${where}payload`, schema);
    const recordSchema = obj(shape.records).schema;
    const recordProblem = isObj(recordSchema) && schemaProblem(recordSchema);
    if (recordProblem) at(`${where}records.schema`, recordProblem);
    const zone = text(obj(shape.time).zone);
    if (zone !== undefined && !validZone(zone)) at(`${where}time.zone`, `"${zone}" is not an IANA time zone`);
    list(shape.readings).forEach((reading, i) => {
      const r = obj(reading);
      const path = `${where}readings[${i}]`;
      const measurement = text(r.measurement);
      if (measurement === undefined) return;
      const def = catalogue.measurements.get(measurement);
      if (!def) return at(`${path}.measurement`, `"${measurement}" is not a measurement of the catalogue`);
      const unit = text(r.unit);
      const units: [string, string][] =
        unit !== undefined
          ? [['unit', unit]]
          : Object.entries(obj(r.units)).flatMap(([k, u]) => (typeof u === 'string' ? [[`units.${k}`, u] as [string, string]] : []));
      for (const [field, u] of units) {
        const c = converter(u, def.unit);
        if (!c.ok) at(`${path}.${field}`, `${c.reason}; ${measurement} is stored in ${def.unit}`);
      }
    });
    list(shape.events).forEach((rule, i) => {
      for (const [key, mapping] of Object.entries(obj(obj(rule).map))) {
        const m = obj(mapping);
        const path = `${where}events[${i}].map.${key}`;
        const event = text(m.event);
        const alert = text(m.alert);
        const dispense = text(m.dispense);
        if (event !== undefined && !catalogue.events.has(event)) at(`${path}.event`, `"${event}" is not an event of the catalogue`);
        if (alert !== undefined && !VKP_ALERT.display.has(alert)) at(`${path}.alert`, 'not a VKP alert code (vkp-alert-code-v090)');
        if (dispense !== undefined && !VKP_DISPENSE.display.has(dispense)) at(`${path}.dispense`, 'not a VKP medication-dispense event code');
        if (event !== undefined) produced.add(event);
      }
    });
  }
  const opensAlarm = (e: string): boolean => catalogue.events.get(e)?.alarm === true;
  const alarmEvents = list(obj(p.alarms).events).flatMap((e, i) => (typeof e === 'string' ? [[e, i] as const] : []));
  for (const [e, i] of alarmEvents) {
    if (!opensAlarm(e)) at(`alarms.events[${i}]`, `"${e}" is not an event that opens an alarm in the catalogue (alarm, or an alert code)`);
  }
  const unproduced = alarmEvents.map(([e]) => e).filter((e) => opensAlarm(e) && !produced.has(e));
  if (unproduced.length) at('alarms.events', `lists an event that no entry of events[].map produces: ${unproduced.join(', ')}`);
  return issues;
}
