import { z } from 'zod';
import type { Catalogue } from '../kernel/measurements.js';
import { converter } from '../kernel/units.js';
import { VKP_ALERT, VKP_DISPENSE } from '../kernel/vkp.js';
import { shapesOf, type Profile } from './schema.js';

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

/**
 * Checks a structurally valid profile against the catalogue and the code lists: every
 * problem at once, each with its path. Units must be valid UCUM and commensurable with
 * the catalogue's unit for the measurement; both units are named when they are not.
 */
export function checkProfile(p: Profile, catalogue: Catalogue): ProfileIssue[] {
  const issues: ProfileIssue[] = [];
  const at = (path: string, message: string) => issues.push({ path, message });
  if (!catalogue.families.has(p.family)) at('family', `"${p.family}" is not a device family of the catalogue`);
  const produced = new Set<string>();
  shapesOf(p).forEach((shape, s) => {
    const where = p.shapes ? `shapes[${s}].` : '';
    const schema = schemaProblem(shape.payload);
    if (schema) at(`${where}payload`, schema);
    const recordSchema = shape.records?.schema && schemaProblem(shape.records.schema);
    if (recordSchema) at(`${where}records.schema`, recordSchema);
    if (shape.time.zone !== undefined && !validZone(shape.time.zone)) at(`${where}time.zone`, `"${shape.time.zone}" is not an IANA time zone`);
    shape.readings.forEach((r, i) => {
      const path = `${where}readings[${i}]`;
      const def = catalogue.measurements.get(r.measurement);
      if (!def) return at(`${path}.measurement`, `"${r.measurement}" is not a measurement of the catalogue`);
      const units: [string, string][] = r.unit !== undefined ? [['unit', r.unit]] : Object.entries(r.units ?? {}).map(([k, u]) => [`units.${k}`, u]);
      for (const [field, unit] of units) {
        const c = converter(unit, def.unit);
        if (!c.ok) at(`${path}.${field}`, `${c.reason}; ${r.measurement} is stored in ${def.unit}`);
      }
    });
    shape.events.forEach((rule, i) => {
      for (const [key, m] of Object.entries(rule.map)) {
        if (!m) continue;
        const path = `${where}events[${i}].map.${key}`;
        if (!catalogue.events.has(m.event)) at(`${path}.event`, `"${m.event}" is not an event of the catalogue`);
        if (m.alert !== undefined && !VKP_ALERT.display.has(m.alert)) at(`${path}.alert`, 'not a VKP alert code (vkp-alert-code-v090)');
        if (m.dispense !== undefined && !VKP_DISPENSE.display.has(m.dispense)) at(`${path}.dispense`, 'not a VKP medication-dispense event code');
        produced.add(m.event);
      }
    });
  });
  const opensAlarm = (e: string): boolean => catalogue.events.get(e)?.alarm === true;
  p.alarms?.events?.forEach((e, i) => {
    if (!opensAlarm(e)) at(`alarms.events[${i}]`, `"${e}" is not an event that opens an alarm in the catalogue (alarm, or an alert code)`);
  });
  const unproduced = (p.alarms?.events ?? []).filter((e) => opensAlarm(e) && !produced.has(e));
  if (unproduced.length) at('alarms.events', `lists an event that no entry of events[].map produces: ${unproduced.join(', ')}`);
  return issues;
}
