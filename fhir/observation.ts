import type { MeasurementDef } from '../kernel/measurements.js';
import type { Reading } from '../kernel/telemetry.js';
import { HUB, LOINC, OBSERVATION_CATEGORY, SNOMED, UCUM, VITAL_SIGNS_LOINC, fhirId, iso } from './systems.js';
import type { Coding, Identifier, Resource } from './types.js';

/**
 * Shaped after HL7 Norway's VkpObservation (draft, http://hl7.no/fhir/vkpobservation):
 * Observation.code carries the catalogue's LOINC and/or SNOMED CT codes (the profile's
 * open slices), the value is a UCUM valueQuantity, and the subject is a logical
 * reference by identifier (Reference.identifier), never a literal Patient reference.
 * The profile is not claimed in meta.profile: VKP binds subject.identifier.system to
 * national identity numbers (FNR/DNR/FHN), while the hub holds only a pseudonym under
 * the arena's own system, which the receiving side maps to the person.
 */
export function observationCode(name: string, m: MeasurementDef | undefined): Coding[] {
  const codes: Coding[] = [];
  if (m?.loinc) codes.push({ system: LOINC, code: m.loinc, display: m.label.en });
  if (m?.snomed) codes.push({ system: SNOMED, code: m.snomed, display: m.label.en });
  codes.push({ system: HUB.measurement, code: name, ...(m ? { display: m.label.en } : {}) });
  return codes;
}

/** The hub's id of a reading: one per device, message and point within it; stable across deliveries. */
export const readingKey = (r: Pick<Reading, 'deviceId' | 'messageId' | 'seq'>): string =>
  `${r.deviceId}/${BigInt.asUintN(64, r.messageId).toString(16)}/${r.seq}`;

/** One reading as an Observation; `subject` is the participant's pseudonym for the caller's audience, or null (device data, or a vendor). */
export function toObservation(r: Reading, m: MeasurementDef | undefined, subject: Identifier | null): Resource {
  const key = readingKey(r);
  const vital = m?.loinc ? VITAL_SIGNS_LOINC.has(m.loinc) : false;
  return {
    resourceType: 'Observation',
    id: `r-${BigInt.asUintN(64, r.messageId).toString(16)}-${r.seq}`,
    meta: { lastUpdated: iso(r.receivedAt) },
    identifier: [{ system: HUB.reading, value: key }],
    status: 'final',
    ...(vital ? { category: [{ coding: [{ system: OBSERVATION_CATEGORY, code: 'vital-signs', display: 'Vital Signs' }] }] } : {}),
    code: { coding: observationCode(r.name, m), text: m?.label.en ?? r.name },
    ...(subject ? { subject: { type: 'Patient', identifier: subject } } : {}),
    // The device's own time: when it was measured (VKP: effectiveDateTime); `issued` is when the hub had it.
    effectiveDateTime: iso(r.deviceTime),
    issued: iso(r.receivedAt),
    device: { reference: `Device/${fhirId(r.deviceId)}`, identifier: { system: HUB.device, value: r.deviceId } },
    ...(m?.type === 'boolean' ? { valueBoolean: r.value !== 0 } : { valueQuantity: { value: r.value, unit: r.unit, system: UCUM, code: r.unit } }),
  };
}
