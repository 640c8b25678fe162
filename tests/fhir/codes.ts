import { ALARM_STATES } from '../../kernel/alarms.js';
import { CONSENT_SCOPES } from '../../kernel/consent.js';
import { ErrorCodes } from '../../kernel/errors.js';
import type { Catalogue } from '../../kernel/measurements.js';
import { unitProblem } from '../../kernel/units.js';
import { VKP_ALERT, VKP_SEVERITY } from '../../kernel/vkp.js';
import { CONSENT_SCOPE, HUB, LOINC, OBSERVATION_CATEGORY, SNOMED, UCUM } from '../../fhir/systems.js';

/**
 * Every coded value in a resource (any object with system and code: Coding, Quantity),
 * checked against the list it claims to come from: the catalogue's LOINC and SNOMED CT
 * codes, names, families and events, VKP's published code systems, valid UCUM. Answers
 * each that is not in its list, or whose system the hub does not speak.
 */
export function codesInHubLists(resource: unknown, catalogue: Catalogue): string[] {
  const m = [...catalogue.measurements.values()];
  const e = [...catalogue.events.values()];
  // The few codes FHIR itself fixes for the hub's resources (a consent's LOINC category, categories and scopes).
  const fixed: Record<string, readonly string[]> = {
    [LOINC]: ['59284-0'],
    [OBSERVATION_CATEGORY]: ['vital-signs'],
    [CONSENT_SCOPE]: ['research', 'patient-privacy'],
  };
  const lists: Record<string, (code: string) => boolean> = {
    [LOINC]: (c) => m.some((x) => x.loinc === c) || fixed[LOINC]!.includes(c),
    [SNOMED]: (c) => m.some((x) => x.snomed === c) || e.some((x) => x.snomed === c),
    [UCUM]: (c) => unitProblem(c) === null && m.some((x) => x.unit === c),
    [VKP_ALERT.url]: (c) => VKP_ALERT.display.has(c),
    [VKP_SEVERITY.url]: (c) => VKP_SEVERITY.display.has(c),
    [HUB.measurement]: (c) => catalogue.measurements.has(c),
    [HUB.event]: (c) => catalogue.events.has(c),
    [HUB.family]: (c) => catalogue.families.has(c),
    [HUB.alarmState]: (c) => (ALARM_STATES as readonly string[]).includes(c),
    [HUB.consentScope]: (c) => (CONSENT_SCOPES as readonly string[]).includes(c),
    [HUB.error]: (c) => c in ErrorCodes,
    [HUB.profile]: (c) => /^[a-z0-9-]+$/.test(c),
    [OBSERVATION_CATEGORY]: (c) => fixed[OBSERVATION_CATEGORY]!.includes(c),
    [CONSENT_SCOPE]: (c) => fixed[CONSENT_SCOPE]!.includes(c),
  };
  const bad: string[] = [];
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    if (typeof o.system === 'string' && typeof o.code === 'string') {
      const inList = lists[o.system];
      if (!inList?.(o.code)) bad.push(`${o.system}|${o.code}`);
    }
    for (const child of Object.values(o)) walk(child);
  };
  walk(resource);
  return bad;
}
