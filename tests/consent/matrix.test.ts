import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirErrors } from '../../fhir/validate.js';
import { pseudonymiser } from '../../kernel/pseudonym.js';
import { buildWorld, KEY, labelOf, STATES, type Who, type World } from './world.js';

/**
 * The consent matrix: every data route × every role and binding × every consent state
 * (tests/consent/world.ts builds the arena and says what each state is). Each line is
 * written out by hand: the exact rows a caller gets, or the status it is refused with.
 * Nothing here recomputes the rule, so a wrong rule fails a line.
 *
 * Reading the labels: "<participant>/<device>"; "dev" is device data of trial TA (nobody
 * assigned), "q" and "devB" are trial TB's participant and device data. Participants
 * are named after their state: granted, never, wBefore, wAfter, erased, late, research
 * (research only), vendor (vendor.telemetry only).
 */
type Expect = readonly string[] | 401 | 403 | 404;
type Line = readonly [route: string, who: Who, expected: Expect];

const ALL_A1 = ['dev/A1', 'granted/A1', 'late/A1', 'never/A1', 'research/A1', 'vendor/A1', 'wAfter/A1', 'wBefore/A1'];
const ALL_B1 = ['dev/B1', 'granted/B1', 'late/B1', 'never/B1', 'research/B1', 'vendor/B1', 'wAfter/B1', 'wBefore/B1'];

const DEVICE_ROUTES: readonly Line[] = [
  // Arena staff read device data unfiltered (audited); erasure removed "erased" for everyone.
  ['/v1/devices/A1/readings', 'admin', ALL_A1],
  ['/v1/devices/A1/readings', 'vendorA', ['dev/A1', 'granted/A1', 'vendor/A1']],
  ['/v1/devices/A1/readings', 'vendorB', 404], // another vendor's device is like a missing one
  ['/v1/devices/A1/readings', 'clinician', 403],
  ['/v1/devices/A1/readings', 'researcherA', 403],
  ['/v1/devices/A1/readings', 'researcherB', 403],
  ['/v1/devices/B1/events', 'admin', ALL_B1],
  ['/v1/devices/B1/events', 'vendorB', ['dev/B1', 'granted/B1', 'vendor/B1']],
  ['/v1/devices/B1/events', 'vendorA', 404],
  ['/v1/devices/B1/events', 'clinician', 403],
  ['/v1/devices/B1/events', 'researcherA', 403],
  ['/v1/devices/A2/readings', 'admin', ['devB/A2', 'q/A2']],
  ['/v1/devices/A2/readings', 'vendorA', ['devB/A2', 'q/A2']],
  ['/v1/devices/A2/readings', 'vendorB', 404],
  ['/v1/devices/A1/events', 'vendorA', []],
  ['/v1/devices/A1/rejections', 'vendorA', []],
  ['/v1/devices/A1/rejections', 'vendorB', 404],
  ['/v1/devices/B1/rejections/summary', 'vendorA', 404],
  ['/v1/devices/B1/rejections', 'researcherA', 403],
];

const DATASET_LINES: readonly Line[] = [
  ['/v1/trials/TA/dataset', 'researcherA', ['granted/A1', 'granted/B1', 'research/A1', 'research/B1']],
  ['/v1/trials/TA/dataset', 'vendorA', ['dev/A1', 'granted/A1', 'vendor/A1']], // only its own devices
  ['/v1/trials/TA/dataset', 'vendorB', ['dev/B1', 'granted/B1', 'vendor/B1']],
  ['/v1/trials/TA/dataset', 'researcherB', 404], // a researcher of TB never reads TA
  ['/v1/trials/TA/dataset', 'admin', 403],
  ['/v1/trials/TA/dataset', 'clinician', 403],
  ['/v1/trials/TB/dataset', 'researcherB', ['devB/A2', 'q/A2']], // TB gives researchers device data
  ['/v1/trials/TB/dataset', 'researcherA', 404], // a researcher of TA never reads TB
  ['/v1/trials/TB/dataset', 'vendorA', ['devB/A2', 'q/A2']],
  ['/v1/trials/TB/dataset', 'vendorB', 404], // not a vendor of TB
  ['/v1/trials/TB/dataset', 'clinician', 403],
  ['/v1/trials/TA/dataset?deviceId=B1', 'vendorA', []], // asking for another vendor's device gives nothing
  ['/v1/trials/TA/dataset?deviceId=A1', 'researcherA', ['granted/A1', 'research/A1']],
  ['/v1/trials/TA/dataset?kind=event', 'researcherA', ['granted/B1', 'research/B1']],
];
const datasetLines = (format: string): Line[] =>
  DATASET_LINES.map(([route, who, expected]) => [`${route}${route.includes('?') ? '&' : '?'}format=${format}`, who, expected]);

let w: World;
beforeAll(async () => {
  w = await buildWorld();
});
afterAll(async () => w?.dispose());

describe('the consent matrix', () => {
  it('covers every consent state', () => {
    expect(Object.keys(STATES).sort()).toEqual(['erased', 'granted', 'late', 'never', 'research', 'vendor', 'wAfter', 'wBefore']);
  });

  for (const [route, who, expected] of DEVICE_ROUTES) {
    it(`${who} GET ${route} → ${Array.isArray(expected) ? `[${expected.join(', ')}]` : expected}`, async () => {
      expect(await w.labels(who, route)).toEqual(expected);
    });
  }

  for (const format of ['csv', 'ndjson', 'parquet']) {
    describe(format, () => {
      for (const [route, who, expected] of datasetLines(format)) {
        it(`${who} GET ${route} → ${Array.isArray(expected) ? `[${expected.join(', ')}]` : expected}`, async () => {
          expect(await w.labels(who, route)).toEqual(expected);
        });
      }
    });
  }

  it('refuses every data route without a token', async () => {
    for (const url of ['/v1/devices/A1/readings', '/v1/trials/TA/dataset']) expect((await w.app.inject({ url })).statusCode).toBe(401);
  });
});

describe('what each audience sees of a participant', () => {
  it('a researcher sees a pseudonym, never the hub participant id; a vendor sees no participant reference at all', async () => {
    const research = await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson');
    const vendor = await w.call('vendorA', '/v1/trials/TA/dataset?format=ndjson');
    const rows = research.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const pseudonyms = new Set(rows.map((r) => r.pseudonym));
    expect(pseudonyms.size).toBe(2); // granted and research, one pseudonym each across A1 and B1
    for (const p of pseudonyms) expect(p).toMatch(/^[0-9a-f]{20}$/);
    for (const r of rows) expect(r).not.toHaveProperty('participant_id');
    for (const v of vendor.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)) {
      expect(Object.keys(v)).not.toContain('pseudonym');
      expect(Object.keys(v)).not.toContain('room_id');
    }
    for (const body of [research.body, vendor.body]) {
      for (const id of ['"granted"', '"research"', '"vendor"', 'TA', '"S"']) expect(body).not.toContain(id);
    }
  });
});

/**
 * Binding against the object: every route that names a participant, alarm, site, trial,
 * device or export checks the caller's binding against that object (the participant's
 * trial site, the alarm's site, the device's vendor, the export's audience), whether or
 * not anything about it exists yet. Unknown and forbidden answer the same 404.
 * `{alarmS}` / `{alarmS2}` are falls raised in S and S2; `{export}` a research export of TA.
 */
type Call = readonly [method: 'GET' | 'PUT' | 'POST', route: string, who: Who, status: 200 | 400 | 401 | 403 | 404, payload?: object];
const OBJECT_LINES: readonly Call[] = [
  // Alarm settings: "granted" has none yet; "q" is TB's participant at S2.
  ['GET', '/v1/alarm-settings/granted', 'admin', 200],
  ['GET', '/v1/alarm-settings/granted', 'clinician', 200],
  ['GET', '/v1/alarm-settings/granted', 'clinicianS2', 404],
  ['GET', '/v1/alarm-settings/granted', 'vendorA', 403],
  ['GET', '/v1/alarm-settings/granted', 'researcherA', 403],
  ['GET', '/v1/alarm-settings/q', 'clinician', 404],
  ['GET', '/v1/alarm-settings/q', 'clinicianS2', 200],
  ['GET', '/v1/alarm-settings/nobody', 'clinician', 404],
  ['GET', '/v1/alarm-settings/nobody', 'admin', 404],
  ['GET', '/v1/alarm-settings/erased', 'admin', 404],
  ['GET', '/v1/alarm-settings?siteId=S2', 'clinician', 404],
  ['PUT', '/v1/alarm-settings/never', 'clinicianS2', 404, { siteId: 'S2', paused: true }],
  ['PUT', '/v1/alarm-settings/never', 'clinicianS2', 404, { siteId: 'S', paused: true }],
  ['PUT', '/v1/alarm-settings/never', 'vendorA', 403, { siteId: 'S' }],
  ['PUT', '/v1/alarm-settings/never', 'researcherA', 403, { siteId: 'S' }],
  ['PUT', '/v1/alarm-settings/never', 'clinician', 400, { siteId: 'S2' }], // not the participant's site
  ['PUT', '/v1/alarm-settings/never', 'clinician', 200, { siteId: 'S' }],
  ['PUT', '/v1/alarm-settings/nobody', 'clinician', 404, { siteId: 'S' }],
  ['PUT', '/v1/alarm-settings/nobody', 'admin', 404, { siteId: 'S' }],
  ['PUT', '/v1/alarm-settings/erased', 'admin', 404, { siteId: 'S' }],
  ['PUT', '/v1/alarm-settings/q', 'clinician', 404, { siteId: 'S' }],
  // Alarms: the alarm's own site decides.
  ['GET', '/v1/alarms/{alarmS}', 'clinician', 200],
  ['GET', '/v1/alarms/{alarmS}', 'admin', 200],
  ['GET', '/v1/alarms/{alarmS}', 'clinicianS2', 404],
  ['GET', '/v1/alarms/{alarmS}', 'vendorA', 403],
  ['GET', '/v1/alarms/{alarmS}', 'researcherA', 403],
  ['GET', '/v1/alarms/{alarmS2}', 'clinician', 404],
  ['GET', '/v1/alarms/alm-none', 'clinician', 404],
  ['GET', '/v1/alarms/alm-none', 'admin', 404],
  ['POST', '/v1/alarms/{alarmS2}/ack', 'clinician', 404, {}],
  ['POST', '/v1/alarms/{alarmS}/resolve', 'vendorA', 403, {}],
  ['GET', '/v1/alarms?siteId=S2', 'clinician', 404],
  ['GET', '/v1/alarms?siteId=nowhere', 'clinician', 404],
  // Live: the site asked for.
  ['GET', '/v1/live/board?siteId=S', 'clinician', 200],
  ['GET', '/v1/live/board?siteId=S', 'clinicianS2', 404],
  ['GET', '/v1/live/board?siteId=S', 'vendorA', 403],
  ['GET', '/v1/live/board?siteId=S', 'researcherA', 403],
  ['GET', '/v1/live/board?siteId=nowhere', 'clinician', 404],
  ['GET', '/v1/live/board?siteId=nowhere', 'admin', 404],
  ['GET', '/v1/live?siteId=S2', 'clinician', 404],
  ['GET', '/v1/live?siteId=nowhere', 'admin', 404],
  ['GET', '/v1/live?siteId=S', 'vendorA', 403],
  ['GET', '/v1/live?siteId=S', 'researcherA', 403],
  // Rejections: the device's vendor.
  ['GET', '/v1/rejections', 'vendorA', 200],
  ['GET', '/v1/rejections', 'admin', 200],
  ['GET', '/v1/rejections', 'clinician', 403],
  ['GET', '/v1/rejections', 'researcherA', 403],
  ['GET', '/v1/rejections/summary', 'clinician', 403],
  ['GET', '/v1/devices/A2/rejections', 'vendorB', 404],
  ['GET', '/v1/devices/none/rejections', 'vendorA', 404],
  ['GET', '/v1/devices/none/readings', 'admin', 404],
  // Codebook: the trial's researchers and vendors.
  ['GET', '/v1/trials/TA/codebook', 'researcherA', 200],
  ['GET', '/v1/trials/TA/codebook', 'vendorA', 200],
  ['GET', '/v1/trials/TA/codebook', 'admin', 200],
  ['GET', '/v1/trials/TA/codebook', 'researcherB', 404],
  ['GET', '/v1/trials/TA/codebook', 'clinician', 403],
  ['GET', '/v1/trials/TB/codebook', 'vendorB', 404],
  ['GET', '/v1/trials/none/codebook', 'admin', 404],
  // Observation periods: pseudonyms, so the trial's researchers only.
  ['GET', '/v1/trials/TA/observation-periods', 'researcherA', 200],
  ['GET', '/v1/trials/TA/observation-periods', 'researcherB', 404],
  ['GET', '/v1/trials/TA/observation-periods', 'vendorA', 403],
  ['GET', '/v1/trials/TA/observation-periods', 'admin', 403],
  ['GET', '/v1/trials/TA/observation-periods', 'clinician', 403],
  ['GET', '/v1/trials/none/observation-periods', 'researcherA', 404],
  // Manifests: the export's audience.
  ['GET', '/v1/exports/{export}/manifest', 'researcherA', 200],
  ['GET', '/v1/exports/{export}/manifest', 'admin', 200],
  ['GET', '/v1/exports/{export}/manifest', 'researcherB', 404],
  ['GET', '/v1/exports/{export}/manifest', 'vendorA', 404],
  ['GET', '/v1/exports/{export}/manifest', 'clinician', 403],
  ['GET', '/v1/exports/exp-none/manifest', 'admin', 404],
];

describe('binding against the object, whether or not anything about it exists yet', () => {
  const vars: Record<string, string> = {};
  beforeAll(async () => {
    w.commit([w.fall(null, 'S'), w.fall(null, 'S2')]);
    for (const a of await w.alarms.listAlarms({ states: ['raised'] })) vars[`{alarm${a.siteId}}`] = a.id;
    vars['{export}'] = String((await w.call('researcherA', '/v1/trials/TA/dataset?format=csv')).headers['x-export-id']);
  });
  const fill = (route: string): string => route.replace(/\{\w+\}/g, (k) => vars[k] ?? k);

  for (const [method, route, who, status, payload] of OBJECT_LINES) {
    it(`${who} ${method} ${route} → ${status}`, async () => {
      expect((await w.call(who, fill(route), { method, ...(payload ? { payload } : {}) })).statusCode).toBe(status);
    });
  }

  it('a participant without settings gets the defaults of its own site; alarm lists keep to the bound sites', async () => {
    expect((await w.call('clinician', '/v1/alarm-settings/granted')).json()).toMatchObject({
      participantId: 'granted',
      siteId: 'S',
      paused: false,
      updatedAt: null,
      updatedBy: null,
    });
    expect((await w.call('clinician', '/v1/alarms')).json().items.map((a: { id: string }) => a.id)).toEqual([vars['{alarmS}']]);
    expect((await w.call('clinicianS2', '/v1/alarms')).json().items.map((a: { id: string }) => a.id)).toEqual([vars['{alarmS2}']]);
    expect((await w.call('clinicianS2', '/v1/alarm-settings')).json().items).toEqual([]);
  });
});

/**
 * The FHIR routes (api/routes/fhir*.ts) under the same rules: Observations are readings
 * only (the events on B1 are not), released to the caller's audience as the datasets
 * are; nobody here holds care.live, so clinicians get no participant's readings. Every
 * resource of every answer is checked by the FHIR validator.
 */
const SUBJECT = 'urn:arena-hub:participant-pseudonym';
const pseudonym = pseudonymiser(KEY);
const subjectOf = (trial: string, audience: 'research' | 'care.live', participant: string): string =>
  encodeURIComponent(`${SUBJECT}|${pseudonym(trial, audience, participant)}`);
const FHIR_LINES: readonly Line[] = [
  ['/fhir/Observation', 'researcherA', ['granted/A1', 'research/A1']],
  ['/fhir/Observation', 'researcherB', ['devB/A2', 'q/A2']],
  ['/fhir/Observation', 'vendorA', ['dev/A1', 'devB/A2', 'granted/A1', 'q/A2', 'vendor/A1']],
  ['/fhir/Observation', 'vendorB', []],
  ['/fhir/Observation', 'clinician', []],
  ['/fhir/Observation', 'clinicianS2', []],
  ['/fhir/Observation', 'admin', 403],
  ['/fhir/Observation?device=B1', 'vendorA', []],
  ['/fhir/Observation?device=Device/A1', 'researcherA', ['granted/A1', 'research/A1']],
  ['/fhir/Observation?code=http://loinc.org|29463-7', 'researcherA', ['granted/A1', 'research/A1']],
  ['/fhir/Observation?code=http://loinc.org|9000-9', 'researcherA', []],
  [`/fhir/Observation?subject=${subjectOf('TA', 'research', 'granted')}`, 'researcherA', ['granted/A1']],
  [`/fhir/Observation?patient:identifier=${subjectOf('TA', 'research', 'research')}`, 'researcherA', ['research/A1']],
  [`/fhir/Observation?subject=${subjectOf('TA', 'research', 'wAfter')}`, 'researcherA', []],
  [`/fhir/Observation?subject=${subjectOf('TA', 'research', 'granted')}`, 'researcherB', []],
  [`/fhir/Observation?subject=${subjectOf('TA', 'care.live', 'granted')}`, 'researcherA', []],
  [`/fhir/Observation?subject=${subjectOf('TA', 'research', 'granted')}`, 'vendorA', []],
];

describe('the FHIR routes in the matrix', () => {
  const vars: Record<string, string> = {};
  beforeAll(async () => {
    // A repeated fall updates the room's open alarm rather than opening another, whichever block raised it first.
    w.commit([w.fall(null, 'S'), w.fall(null, 'S2')]);
    for (const a of await w.alarms.listAlarms({})) vars[a.siteId ?? ''] = a.id;
  });

  async function fhir(who: Who, url: string): Promise<{ status: number; resources: { resourceType: string; [k: string]: unknown }[] }> {
    const res = await w.call(who, url);
    expect(res.headers['content-type']).toMatch(/^application\/fhir\+json/);
    const body = res.json();
    const resources = body.resourceType === 'Bundle' ? (body.entry ?? []).map((e: { resource: unknown }) => e.resource) : [body];
    for (const r of [body, ...resources]) expect(fhirErrors(r), JSON.stringify(r)).toEqual([]);
    return { status: res.statusCode, resources };
  }

  for (const [route, who, expected] of FHIR_LINES) {
    it(`${who} GET ${route} → ${Array.isArray(expected) ? `[${expected.join(', ')}]` : expected}`, async () => {
      const { status, resources } = await fhir(who, route);
      if (status !== 200) return expect(status).toBe(expected);
      const labels = resources.map((o) => labelOf({ value: (o.valueQuantity as { value: number }).value, attributes: null })).sort();
      expect(labels).toEqual(expected);
      expect(JSON.stringify(resources)).not.toMatch(/"(granted|research|vendor|q|wAfter)"/);
    });
  }

  const STATUS_LINES: readonly Call[] = [
    ['GET', '/fhir/Flag', 'vendorA', 403],
    ['GET', '/fhir/Flag', 'researcherA', 403],
    ['GET', '/fhir/Flag', 'admin', 403],
    ['GET', '/fhir/Consent', 'admin', 200],
    ['GET', '/fhir/Consent', 'clinician', 403],
    ['GET', '/fhir/Consent', 'researcherA', 403],
    ['GET', '/fhir/Consent', 'vendorA', 403],
    ['GET', '/fhir/Device/A1', 'vendorA', 200],
    ['GET', '/fhir/Device/A1', 'vendorB', 404],
    ['GET', '/fhir/Device/A1', 'clinician', 200],
    ['GET', '/fhir/Device/A1', 'clinicianS2', 404],
    ['GET', '/fhir/Device/B1', 'researcherB', 404],
    ['GET', '/fhir/Device/none', 'admin', 404],
    ['GET', '/fhir/Observation?colour=red', 'researcherA', 400],
  ];
  for (const [, route, who, status] of STATUS_LINES) {
    it(`${who} GET ${route} → ${status}`, async () => {
      expect((await fhir(who, route)).status).toBe(status);
    });
  }

  it('a clinician gets the Flags of its own sites only; device alarms name their room, not a person', async () => {
    const s = await fhir('clinician', '/fhir/Flag?status=active');
    expect(s.resources.map((f) => (f.identifier as { value: string }[])[0]!.value)).toEqual([vars.S]);
    expect(s.resources[0]).toMatchObject({ status: 'active', subject: { type: 'Location', identifier: { value: 'R' } } });
    expect((await fhir('clinicianS2', '/fhir/Flag')).resources.map((f) => (f.identifier as { value: string }[])[0]!.value)).toEqual([vars.S2]);
    expect((await fhir('clinician', '/fhir/Flag?status=inactive')).resources).toEqual([]);
  });

  it('consents name each participant by the pseudonym of the scope, never by the hub id', async () => {
    const { resources } = await fhir('admin', `/fhir/Consent?patient=${subjectOf('TA', 'research', 'granted')}`);
    expect(resources.map((c) => c.status).sort()).toEqual(['active', 'active']);
    expect(JSON.stringify(resources)).not.toContain('"granted"');
  });

  it('refuses without a token, as an OperationOutcome', async () => {
    const res = await w.app.inject({ url: '/fhir/Observation' });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'login', details: { coding: [{ code: 'UNAUTHENTICATED' }] } }] });
  });
});
