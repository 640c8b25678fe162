import { createHash } from 'node:crypto';

/** Code systems and identifier systems the hub's FHIR resources use. */
export const LOINC = 'http://loinc.org';
export const SNOMED = 'http://snomed.info/sct';
export const UCUM = 'http://unitsofmeasure.org';
export const OBSERVATION_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
export const CONSENT_SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';

/**
 * The hub's own systems, for what no published system codes: catalogue names without a
 * LOINC or SNOMED CT code, device families and profiles, alarm states, consent scopes,
 * and identifiers of the hub's records. URNs (RFC 8141), stable across deployments.
 */
export const HUB = {
  measurement: 'urn:arena-hub:measurement',
  event: 'urn:arena-hub:event',
  family: 'urn:arena-hub:device-family',
  profile: 'urn:arena-hub:device-profile',
  device: 'urn:arena-hub:device',
  reading: 'urn:arena-hub:reading',
  alarm: 'urn:arena-hub:alarm',
  alarmState: 'urn:arena-hub:alarm-state',
  consent: 'urn:arena-hub:consent',
  consentScope: 'urn:arena-hub:consent-scope',
  consentForm: 'urn:arena-hub:consent-form',
  site: 'urn:arena-hub:site',
  room: 'urn:arena-hub:room',
  error: 'urn:arena-hub:error',
} as const;

/**
 * LOINC codes of the FHIR R4 vital-signs profiles (§8.1.1 Vital Signs): an Observation
 * with one of them is categorised `vital-signs`, as those profiles and VKP's
 * (VkpObservationBodyweight and its siblings derive from them) expect.
 */
export const VITAL_SIGNS_LOINC: ReadonlySet<string> = new Set(['29463-7', '9279-1', '8867-4', '59408-5', '2708-6', '8310-5', '8302-2', '39156-5', '85354-9']);

// FHIR R4 id datatype: [A-Za-z0-9\-\.]{1,64}.
const FHIR_ID = /^[A-Za-z0-9.-]{1,64}$/;

/**
 * The logical id of one of the hub's records in FHIR: the record's own id when it is a
 * valid FHIR id, else a digest of it (hub ids may hold "_", which FHIR ids may not).
 * The hub's id itself travels in the resource's identifier.
 */
export const fhirId = (id: string): string => (FHIR_ID.test(id) ? id : `h-${createHash('sha256').update(id).digest('hex').slice(0, 40)}`);

export const iso = (ms: number): string => new Date(ms).toISOString();
