import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue } from '../../device-profiles/catalogue.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { codesInHubLists } from './codes.js';
import { type Arena, MIN, SYSTEM, buildArena, fall, intake, validated, weighing } from './world.js';

/**
 * The FHIR API of the all-in-one hub, read with fetch as an integration engine would,
 * over readings and a fall published through the real broker by MQTT clients. Every
 * resource of every answer goes through the FHIR validator and the hub's code lists.
 */
let hub: TestHub;
let arena: Arena;
const catalogue = loadCatalogue();

async function fhir(path: string, token: string | null): Promise<{ status: number; type: string; body: any; resources: any[] }> {
  const res = await hub.api(path, { token });
  const resources = validated(res.body);
  for (const r of resources) expect(codesInHubLists(r, catalogue)).toEqual([]);
  expect(res.type).toMatch(/^application\/fhir\+json/);
  return { ...res, resources };
}

/** Every page of a search, following the Bundle's next links. */
async function allPages(path: string, token: string): Promise<{ pages: number; resources: any[] }> {
  const resources: any[] = [];
  let pages = 0;
  let next: string | undefined = path;
  while (next) {
    const { status, body, resources: page } = await fhir(next, token);
    expect(status).toBe(200);
    resources.push(...page);
    pages++;
    const url: string | undefined = body.link.find((l: { relation: string }) => l.relation === 'next')?.url;
    next = url === undefined ? undefined : url.slice(url.indexOf('/fhir/'));
  }
  return { pages, resources };
}

const weights = [71_800, 72_100, 72_450, 72_300];
beforeAll(async () => {
  hub = await startTestHub({ FHIR_SUBJECT_SYSTEM: SYSTEM });
  arena = await buildArena(hub);
  const t0 = arena.start + 10 * MIN;
  for (const [i, g] of weights.entries()) await publish(arena.scale, 'devices/AQ-1/measurements', weighing(t0 + i * 5 * MIN, g));
  await publish(arena.scale, 'devices/AQ-1/measurements', intake(t0 + 2 * MIN, 250));
  await publish(arena.sensor, 'devices/RS-1/events', fall(Date.now()));
  await until('the readings are stored', async () => (await hub.api('/v1/devices/AQ-1/readings')).body.items?.length === 5);
  await until('the fall raised an alarm', async () => (await hub.api('/v1/alarms?state=open')).body.items?.length === 1);
}, 60_000);
afterAll(async () => {
  await end(arena?.scale);
  await end(arena?.sensor);
  await hub?.dispose();
});

describe('FHIR R4 read API', () => {
  it('serves its CapabilityStatement to anyone', async () => {
    const { status, body } = await fhir('/fhir/metadata', null);
    expect(status).toBe(200);
    expect(body).toMatchObject({ resourceType: 'CapabilityStatement', fhirVersion: '4.0.1', format: ['application/fhir+json', 'json'] });
    expect(body.rest[0].resource.map((r: { type: string }) => r.type)).toEqual(['Observation', 'Device', 'Flag', 'Consent']);
  });

  it("a participant's weights since a date, page by page, oldest first, under the clinician audience's pseudonym", async () => {
    const first = await fhir('/fhir/Observation?_count=1', arena.tokens.clinician);
    const subject = first.resources[0].subject.identifier;
    expect(subject.system).toBe(SYSTEM);
    const since = new Date(arena.start + 14 * MIN).toISOString();
    const query = `/fhir/Observation?subject=${encodeURIComponent(`${SYSTEM}|${subject.value}`)}&code=${encodeURIComponent('http://loinc.org|29463-7')}&date=ge${since}&_count=2`;
    const { pages, resources } = await allPages(query, arena.tokens.clinician);
    expect(pages).toBe(2);
    expect(resources.map((o) => o.valueQuantity)).toEqual(
      weights.slice(1).map((g) => ({ value: g / 1000, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' })),
    );
    expect(new Set(resources.map((o) => o.id)).size).toBe(3);
    for (const o of resources) expect(o).toMatchObject({ status: 'final', subject: { identifier: subject }, device: { reference: 'Device/AQ-1' } });
    // A date range: ge and le together.
    const upTo = new Date(arena.start + 20 * MIN).toISOString();
    const range = await fhir(`/fhir/Observation?code=29463-7&date=ge${since}&date=le${upTo}`, arena.tokens.clinician);
    expect(range.resources.map((o) => o.valueQuantity.value)).toEqual([72.1, 72.45]);
  });

  it('each audience sees its own pseudonym; the hub participant id never leaves', async () => {
    const clinical = await fhir('/fhir/Observation', arena.tokens.clinician);
    const research = await fhir('/fhir/Observation', arena.tokens.researcher);
    const vendor = await fhir('/fhir/Observation?device=AQ-1', arena.tokens.vendor);
    expect(clinical.resources).toHaveLength(5);
    expect(research.resources).toHaveLength(5);
    expect(vendor.resources).toHaveLength(5);
    const [c, r] = [clinical.resources[0].subject.identifier.value, research.resources[0].subject.identifier.value];
    expect(c).toMatch(/^[0-9a-f]{20}$/);
    expect(r).not.toBe(c);
    for (const o of vendor.resources) expect(o.subject).toBeUndefined();
    for (const body of [clinical.body, research.body, vendor.body]) expect(JSON.stringify(body)).not.toContain('P-1');
  });

  it("a device's Observations, and the Device itself with serial, type, manufacturer, model and profile version", async () => {
    const { resources } = await fhir('/fhir/Observation?device=Device/AQ-1&code=9000-9', arena.tokens.researcher);
    expect(resources.map((o) => o.valueQuantity)).toEqual([{ value: 250, unit: 'mL', system: 'http://unitsofmeasure.org', code: 'mL' }]);
    const device = await fhir('/fhir/Device/AQ-1', arena.tokens.vendor);
    expect(device.body).toMatchObject({
      resourceType: 'Device',
      identifier: [{ system: 'urn:arena-hub:device', value: 'AQ-1' }],
      serialNumber: 'AQ-1',
      manufacturer: 'AquaScale',
      type: { coding: [{ code: 'fluid-balance' }] },
      version: [{ value: '1.0.0' }],
    });
    const other = await fhir('/fhir/Device/RS-1', arena.tokens.vendor);
    expect(other.status).toBe(404);
    expect(other.body).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'not-found' }] });
    expect((await fhir('/fhir/Device?identifier=RS-1', arena.tokens.vendor)).resources).toEqual([]);
  });

  it('open alarms are active Flags with the VKP alert code; the status follows acknowledge and resolve', async () => {
    const open = await fhir('/fhir/Flag?status=active', arena.tokens.clinician);
    expect(open.resources).toHaveLength(1);
    const flag = open.resources[0];
    const observation = (await fhir('/fhir/Observation?_count=1', arena.tokens.clinician)).resources[0];
    expect(flag.code.coding[0]).toEqual({ system: 'http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090', code: '4.1', display: 'Fall' });
    expect(flag).toMatchObject({
      status: 'active',
      subject: { identifier: observation.subject.identifier },
      author: { reference: 'Device/RS-1' },
    });
    const alarmId = flag.identifier[0].value;
    expect((await hub.api(`/v1/alarms/${alarmId}/ack`, { body: {} })).status).toBe(200);
    const acked = await fhir('/fhir/Flag?status=active', arena.tokens.clinician);
    expect(acked.resources[0].meta.tag[0]).toEqual({ system: 'urn:arena-hub:alarm-state', code: 'acknowledged' });
    expect((await hub.api(`/v1/alarms/${alarmId}/resolve`, { body: {} })).status).toBe(200);
    expect((await fhir('/fhir/Flag?status=active', arena.tokens.clinician)).resources).toEqual([]);
    const closed = await fhir('/fhir/Flag?status=inactive', arena.tokens.clinician);
    expect(closed.resources.map((f) => [f.status, typeof f.period.end])).toEqual([['inactive', 'string']]);
  });

  it('consents are for arena staff; every read and refusal is in the audit log', async () => {
    const consents = await fhir('/fhir/Consent', hub.adminToken);
    expect(consents.resources.map((c) => c.provision.purpose[0].code).sort()).toEqual(['care.live', 'research', 'research', 'vendor.telemetry']);
    expect((await fhir('/fhir/Consent', arena.tokens.clinician)).status).toBe(403);
    expect((await fhir('/fhir/Flag', arena.tokens.vendor)).status).toBe(403);
    const audit = (await hub.api('/v1/audit?limit=1000')).body.items as { action: string; detail: Record<string, unknown> }[];
    expect(audit.some((e) => e.action === 'GET /fhir/Observation' && typeof e.detail.rows === 'number')).toBe(true);
    expect(audit.some((e) => e.action === 'GET /fhir/Consent' && e.detail.refused === undefined)).toBe(true);
    expect(audit.some((e) => e.action === 'GET /fhir/Flag' && e.detail.refused === 403 && e.detail.reason === 'FORBIDDEN')).toBe(true);
  });

  it('bad searches are OperationOutcomes: unknown parameters, dates and pages', async () => {
    for (const q of ['colour=red', 'date=yesterday', '_count=0', '_page=nonsense', 'date=ge2026-02-30']) {
      const res = await fhir(`/fhir/Observation?${q}`, arena.tokens.clinician);
      expect(res.status, q).toBe(400);
      expect(res.body.issue[0]).toMatchObject({ code: 'invalid', details: { coding: [{ code: 'VALIDATION_FAILED' }] } });
    }
    expect((await fhir('/fhir/Patient', arena.tokens.clinician)).status).toBe(404);
    expect((await fhir(`/fhir/Observation?_lastUpdated=ge${new Date(Date.now() + 3_600_000).toISOString()}`, arena.tokens.clinician)).resources).toEqual([]);
  });

  it('a withdrawal stops the very next release', async () => {
    const consents = (await hub.api('/v1/participants/P-1/consents')).body.items as { id: string; scope: string }[];
    const careLive = consents.find((c) => c.scope === 'care.live')!;
    expect((await hub.api(`/v1/consents/${careLive.id}/withdraw`, { body: {} })).status).toBe(200);
    expect((await fhir('/fhir/Observation', arena.tokens.clinician)).resources).toEqual([]);
    expect((await fhir('/fhir/Flag', arena.tokens.clinician)).resources).toEqual([]);
    expect((await fhir('/fhir/Observation', arena.tokens.researcher)).resources).toHaveLength(5);
  });
});
