import type { ConsentRecord } from '../kernel/trials.js';
import { CONSENT_SCOPE, HUB, LOINC, fhirId, iso } from './systems.js';
import type { Identifier, Resource } from './types.js';

/**
 * One consent record (a scope granted at a time, perhaps withdrawn) as a Consent. The
 * patient is named by the pseudonym of the audience the scope releases to, so that the
 * side receiving that audience's data can match the two. A withdrawn record is
 * `inactive`: withdrawal stops every later release, also of data measured before it
 * (kernel/consent.ts), which the provision's period end records.
 */
export function toConsent(c: ConsentRecord, patient: Identifier): Resource {
  return {
    resourceType: 'Consent',
    id: fhirId(c.id),
    meta: { lastUpdated: iso(c.withdrawnAt ?? c.recordedAt) },
    identifier: [{ system: HUB.consent, value: c.id }],
    status: c.withdrawnAt === null ? 'active' : 'inactive',
    // consentscope: research for the research scope; the other two govern sharing of the participant's data.
    scope: { coding: [{ system: CONSENT_SCOPE, code: c.scope === 'research' ? 'research' : 'patient-privacy' }] },
    category: [{ coding: [{ system: LOINC, code: '59284-0', display: 'Patient Consent' }] }],
    patient: { type: 'Patient', identifier: patient },
    dateTime: iso(c.recordedAt),
    // ppc-1: a policy or a policy rule; the form the participant signed is the policy.
    policy: [{ uri: `${HUB.consentForm}:${encodeURIComponent(c.formVersion)}` }],
    provision: {
      type: 'permit',
      period: { start: iso(c.grantedAt), ...(c.withdrawnAt !== null ? { end: iso(c.withdrawnAt) } : {}) },
      purpose: [{ system: HUB.consentScope, code: c.scope }],
    },
  };
}
