import { describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../device-profiles/catalogue.js';
import { loadProfiles } from '../../device-profiles/load.js';
import type { Alarm, AlarmState } from '../../kernel/alarms.js';
import type { ConsentRecord } from '../../kernel/trials.js';
import type { Reading } from '../../kernel/telemetry.js';
import { VKP_ALERT, VKP_SEVERITY } from '../../kernel/vkp.js';
import { operationOutcome, searchset, transaction } from '../../fhir/bundle.js';
import { capabilityStatement } from '../../fhir/capability.js';
import { toConsent } from '../../fhir/consent.js';
import { toDevice } from '../../fhir/device.js';
import { toFlag } from '../../fhir/flag.js';
import { toObservation } from '../../fhir/observation.js';
import { HUB, LOINC, SNOMED, UCUM } from '../../fhir/systems.js';
import type { Resource } from '../../fhir/types.js';
import { fhirErrors } from '../../fhir/validate.js';
import { codesInHubLists } from './codes.js';

const catalogue = loadCatalogue();
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * 86_400_000, maxFutureMs: 60_000 });
const T = Date.parse('2026-03-01T08:00:00Z');
const subject = { system: 'urn:oid:2.16.578.1.12.4.1.7.99', value: '0123456789abcdef0123' };

function reading(name: string, value: number, unit: string, participant = true): Reading {
  return {
    kind: 'reading',
    messageId: 0xfedcba9876543210n,
    seq: 2,
    deviceId: 'AQ_1',
    profileId: 'aquascale',
    family: 'fluid-balance',
    siteId: 'S',
    roomId: 'R',
    trialId: 'T',
    participantId: participant ? 'p-1' : null,
    name,
    deviceTime: T,
    receivedAt: T + 400,
    clockSkewed: false,
    value,
    unit,
  };
}

const alarm = (state: AlarmState, participant: boolean): Alarm => ({
  id: 'alm-a_b',
  rule: 'fall',
  event: 'fall',
  key: 'k',
  alertCode: '4.1',
  severity: 40,
  family: 'fall-sensor',
  state,
  siteId: 'S',
  roomId: participant ? 'R' : null,
  deviceId: 'RS-1',
  trialId: 'T',
  participantId: participant ? 'p-1' : null,
  raisedAt: T,
  lastTriggeredAt: T,
  triggerCount: 1,
  acknowledgedAt: null,
  acknowledgedBy: null,
  ackComment: null,
  closedAt: state === 'resolved' || state === 'false_alarm' ? T + 60_000 : null,
  closedBy: null,
  closeComment: null,
  detail: {},
  notify: [],
  sources: [],
  updatedAt: T + 60_000,
  version: 1,
});

const consent = (withdrawn: boolean): ConsentRecord => ({
  id: 'con-x_y',
  participantId: 'p-1',
  scope: 'care.live',
  grantedAt: T - 86_400_000,
  withdrawnAt: withdrawn ? T : null,
  formVersion: 'v2 2026',
  recordedAt: T - 86_400_000,
});

/** Every kind of resource the mappers emit, each variant once. */
function everyResource(): Resource[] {
  const out: Resource[] = [];
  for (const m of catalogue.measurements.values()) {
    const value = m.type === 'boolean' ? 1 : (m.range?.[0] ?? 0);
    out.push(toObservation(reading(m.name, value, m.unit), m, subject), toObservation(reading(m.name, value, m.unit, false), m, null));
  }
  for (const [id, d] of profiles.decoders) {
    const p = d.profile;
    const model = {
      profileId: id,
      version: p.version,
      vendor: p.vendor,
      model: p.model,
      family: p.family,
      familyLabel: catalogue.families.get(p.family)?.label.en,
    };
    out.push(toDevice({ id: `${id}_1`, vendorId: 'V', profileId: id, siteId: null, roomId: null, label: '', active: true, createdAt: T }, model));
  }
  out.push(toDevice({ id: 'X-1', vendorId: 'V', profileId: 'gone', siteId: null, roomId: null, label: 'Spare', active: false, createdAt: T }, undefined));
  for (const e of catalogue.events.values()) {
    if (!e.alert) continue;
    for (const state of ['raised', 'acknowledged', 'resolved', 'false_alarm'] as const)
      for (const p of [true, false])
        out.push(
          toFlag(
            { ...alarm(state, p), event: e.name, alertCode: e.alert, severity: e.severity },
            { subject: p ? subject : null, event: e, alarmRef: 'alm-a_b' },
          ),
        );
  }
  out.push(toConsent(consent(false), subject), toConsent(consent(true), subject));
  out.push(operationOutcome('NOT_FOUND', 'no such thing'), capabilityStatement('http://127.0.0.1/fhir', '2026-03-01'));
  return out;
}

describe('FHIR mapping', () => {
  const resources = everyResource();

  it('emits every resource kind', () => {
    expect(new Set(resources.map((r) => r.resourceType))).toEqual(
      new Set(['Observation', 'Device', 'Flag', 'Consent', 'OperationOutcome', 'CapabilityStatement']),
    );
  });

  it('every resource, search page and transaction validates against the R4 base definitions', () => {
    for (const r of resources) expect(fhirErrors(r), `${r.resourceType} ${JSON.stringify(r)}`).toEqual([]);
    const page = [...new Map(resources.filter((r) => r.id).map((r) => [`${r.resourceType}/${r.id}`, r])).values()];
    expect(fhirErrors(searchset('http://h/fhir', page, 'http://h/fhir/Observation', 'http://h/fhir/Observation?_page=x'))).toEqual([]);
    // Two entries with one fullUrl (bdl-7) are refused: ids must be unique per resource type.
    expect(fhirErrors(searchset('http://h/fhir', [page[0]!, page[0]!], 'http://h/fhir/Observation', null)).length).toBeGreaterThan(0);
    expect(fhirErrors(transaction(resources.filter((r) => r.resourceType === 'Observation' || r.resourceType === 'Flag')))).toEqual([]);
  });

  it('the validator is real: it refuses what R4 does not allow', () => {
    const obs = resources.find((r) => r.resourceType === 'Observation')!;
    expect(fhirErrors({ ...obs, status: 5 }).length).toBeGreaterThan(0);
    expect(fhirErrors({ ...obs, effectiveDateTime: '2026-02-30T25:00:00Z' }).length).toBeGreaterThan(0);
    expect(fhirErrors({ ...obs, colour: 'red' }).length).toBeGreaterThan(0);
    const { subject: _s, ...flag } = resources.find((r) => r.resourceType === 'Flag')!;
    expect(fhirErrors(flag as Resource).map((i) => i.path)).toContain('Flag.subject');
  });

  it("every code is in the hub's code lists: catalogue LOINC/SNOMED CT, VKP alert and severity codes, UCUM units", () => {
    for (const r of resources) expect(codesInHubLists(r, catalogue), JSON.stringify(r)).toEqual([]);
  });

  it('body weight is coded as VKP does: LOINC 29463-7 and SNOMED CT 27113001 in kg, vital signs, subject by identifier', () => {
    const weight = toObservation(reading('body_weight', 72.5, 'kg'), catalogue.measurements.get('body_weight'), subject);
    expect(weight).toMatchObject({
      category: [{ coding: [{ code: 'vital-signs' }] }],
      code: {
        coding: [
          { system: LOINC, code: '29463-7' },
          { system: SNOMED, code: '27113001' },
          { system: HUB.measurement, code: 'body_weight' },
        ],
      },
      valueQuantity: { value: 72.5, unit: 'kg', system: UCUM, code: 'kg' },
      subject: { identifier: subject },
      effectiveDateTime: '2026-03-01T08:00:00.000Z',
    });
    expect(JSON.stringify(weight)).not.toContain('p-1');
  });

  it('an alarm is a Flag whose status follows its lifecycle, coded with the VKP alert code', () => {
    const flags = (['raised', 'acknowledged', 'resolved', 'false_alarm'] as const).map((s) =>
      toFlag(alarm(s, true), { subject, event: catalogue.events.get('fall'), alarmRef: 'a1' }),
    );
    expect(flags.map((f) => f.status)).toEqual(['active', 'active', 'inactive', 'entered-in-error']);
    expect(flags[0]).toMatchObject({
      code: {
        coding: [
          { system: VKP_ALERT.url, code: '4.1', display: 'Fall' },
          { system: SNOMED, code: '1912002' },
          { system: HUB.event, code: 'fall', display: 'Fall' },
        ],
      },
    });
    expect(flags[1]!.meta!.tag).toEqual([
      { system: HUB.alarmState, code: 'acknowledged' },
      { system: VKP_SEVERITY.url, code: '40', display: 'Kritisk' },
    ]);
    expect(JSON.stringify(flags)).not.toContain('p-1');
  });
});
