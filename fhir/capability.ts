import type { Resource } from './types.js';

/** The search parameters each resource type answers (FHIR R4 SearchParameter types). */
export const SEARCH_PARAMS: Readonly<Record<string, readonly (readonly [name: string, type: string, doc: string])[]>> = {
  Observation: [
    ['subject', 'reference', 'The participant by logical identifier, system|value (also subject:identifier)'],
    ['patient', 'reference', 'As subject'],
    ['code', 'token', 'LOINC, SNOMED CT or hub measurement code, system|code or code; comma for any of several'],
    ['date', 'date', 'effectiveDateTime, with ge, gt, le, lt or eq; repeat for a range'],
    ['device', 'reference', 'Device/{id} or {id}'],
    ['_lastUpdated', 'date', 'When the hub stored the reading'],
    ['_count', 'number', 'Entries per page (default 50, at most 1000)'],
  ],
  Device: [
    ['identifier', 'token', 'The device id (serial number)'],
    ['_count', 'number', 'Entries per page'],
  ],
  Flag: [
    ['status', 'token', 'active (open alarms), inactive (resolved) or entered-in-error (false alarms)'],
    ['subject', 'reference', 'The participant by logical identifier, system|value'],
    ['patient', 'reference', 'As subject'],
    ['date', 'date', 'When the alarm was raised, with ge, gt, le, lt or eq'],
    ['_lastUpdated', 'date', 'When the alarm last changed'],
    ['_count', 'number', 'Entries per page'],
  ],
  Consent: [
    ['patient', 'reference', 'The participant by logical identifier, system|value'],
    ['_count', 'number', 'Entries per page'],
  ],
};

const READABLE: ReadonlySet<string> = new Set(['Device']);

/** GET /fhir/metadata (FHIR R4 §3.1.0.14 capabilities): what this server answers, and only that. */
export function capabilityStatement(base: string, date: string, types: readonly string[] = Object.keys(SEARCH_PARAMS)): Resource {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date,
    kind: 'instance',
    software: { name: 'arena-hub' },
    implementation: { description: 'arena-hub FHIR R4 read API', url: base },
    fhirVersion: '4.0.1',
    format: ['application/fhir+json', 'json'],
    rest: [
      {
        mode: 'server',
        security: { description: 'Bearer token (RFC 6750) of an arena-hub principal; what it releases follows its role, binding and the consent rule.' },
        resource: Object.entries(SEARCH_PARAMS)
          .filter(([type]) => types.includes(type))
          .map(([type, params]) => ({
            type,
            interaction: [{ code: 'search-type' }, ...(READABLE.has(type) ? [{ code: 'read' }] : [])],
            searchParam: params.map(([name, t, documentation]) => ({ name, type: t, documentation })),
          })),
      },
    ],
  };
}
