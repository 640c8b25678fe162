import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, T0, type ApiFixture } from '../api/fixture.js';
import { parseCsv } from '../helpers/datasets.js';

const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();
let f: ApiFixture;

// The fixture's trial runs T0 - 1 day .. T0 + 30 days; p-007 holds research from T0 - 1 h.
beforeAll(async () => {
  f = await startApi();
  const r = f.registry;
  await r.createDevice({ id: 'BW-2', vendorId: 'vendor-b', profileId: 'bedwatch-senml', roomId: 'room-1' });
  await r.createAssignment({ trialId: 'trial-1', deviceId: 'AQ-1', participantId: 'p-007', from: T0, to: T0 + 2 * DAY });
  await r.createAssignment({ trialId: 'trial-1', deviceId: 'BW-1', participantId: 'p-007', from: T0 + DAY });
  // p-008 allows the vendor's view only: no research periods.
  await r.enrolParticipant({ id: 'p-008', trialId: 'trial-1' });
  await r.grantConsent({ participantId: 'p-008', scope: 'vendor.telemetry', grantedAt: T0 - DAY, formVersion: 'v1' });
  await r.createAssignment({ trialId: 'trial-1', deviceId: 'AQ-1', participantId: 'p-008', from: T0 + 3 * DAY });
  // p-009 consented to research ten days after getting the device.
  await r.enrolParticipant({ id: 'p-009', trialId: 'trial-1' });
  await r.grantConsent({ participantId: 'p-009', scope: 'research', grantedAt: T0 + 10 * DAY, formVersion: 'v1' });
  await r.createAssignment({ trialId: 'trial-1', deviceId: 'BW-2', participantId: 'p-009', from: T0 });
});
afterAll(async () => f?.dispose());

describe('GET /v1/trials/{id}/observation-periods', () => {
  it("gives each pseudonym's assigned, consented time per device, with the device's expected interval, under the datasets' pseudonyms", async () => {
    const res = await f.call({ url: '/v1/trials/trial-1/observation-periods', token: f.tokens.researcher });
    expect(res.statusCode).toBe(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body).toMatchObject({ trialId: 'trial-1', audience: 'research' });
    expect(JSON.stringify(body)).not.toMatch(/p-00[789]/);

    // The dataset's pseudonym of p-007 (the fixture's data is all p-007's).
    const rows = parseCsv((await f.call({ url: '/v1/trials/trial-1/dataset?format=csv', token: f.tokens.researcher })).body);
    const p007 = new Set(rows.map((row) => row.pseudonym));
    expect(p007.size).toBe(1);
    const [pseudonym007] = [...p007];

    const end = T0 + 30 * DAY; // the trial's end: open assignments are observed up to it, not to now
    const items = body.items as { pseudonym: string; deviceId: string; from: string; to: string; expectedIntervalS: number | null; profileId: string }[];
    const of007 = items.filter((i) => i.pseudonym === pseudonym007);
    expect(of007).toEqual([
      { pseudonym: pseudonym007, deviceId: 'AQ-1', profileId: 'aquascale', expectedIntervalS: expect.any(Number), from: iso(T0), to: iso(T0 + 2 * DAY) },
      { pseudonym: pseudonym007, deviceId: 'BW-1', profileId: 'bedwatch-senml', expectedIntervalS: expect.any(Number), from: iso(T0 + DAY), to: iso(end) },
    ]);
    const others = items.filter((i) => i.pseudonym !== pseudonym007);
    expect(others.map(({ deviceId, from, to }) => ({ deviceId, from, to }))).toEqual([{ deviceId: 'BW-2', from: iso(T0 + 10 * DAY), to: iso(end) }]);
    expect(others[0]!.pseudonym).toMatch(/^[0-9a-f]{20}$/);
  });

  it('as CSV, with the same rows', async () => {
    const json = (await f.call({ url: '/v1/trials/trial-1/observation-periods', token: f.tokens.researcher })).json();
    const res = await f.call({ url: '/v1/trials/trial-1/observation-periods?format=csv', token: f.tokens.researcher });
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    expect(res.body.split('\r\n')[0]).toBe('pseudonym,device_id,profile_id,expected_interval_s,from,to');
    expect(parseCsv(res.body).map((r) => [r.pseudonym, r.device_id, r.from, r.to])).toEqual(
      json.items.map((i: Record<string, string>) => [i.pseudonym, i.deviceId, i.from, i.to]),
    );
  });

  it('shrinks when a consent is withdrawn: the withdrawal takes all of that participant out', async () => {
    const consent = (await f.registry.listConsents('p-009')).find((c) => c.scope === 'research')!;
    await f.registry.withdrawConsent(consent.id, Date.now());
    const items = (await f.call({ url: '/v1/trials/trial-1/observation-periods', token: f.tokens.researcher })).json().items;
    expect(items.map((i: { deviceId: string }) => i.deviceId)).toEqual(['AQ-1', 'BW-1']);
  });

  it('is for researchers of the trial only, and audited as a release', async () => {
    for (const token of [f.tokens.vendorA, f.tokens.clinician, f.tokens.admin]) {
      expect((await f.call({ url: '/v1/trials/trial-1/observation-periods', token })).statusCode).toBe(403);
    }
    expect((await f.call({ url: '/v1/trials/nope/observation-periods', token: f.tokens.researcher })).statusCode).toBe(404);
    const audit = (await f.call({ url: '/v1/audit?limit=1000', token: f.tokens.admin })).json().items as {
      action: string;
      status?: number;
      detail: { rows?: number };
    }[];
    const releases = audit.filter((e) => e.action === 'GET /v1/trials/:id/observation-periods' && e.detail.rows !== undefined);
    expect(releases.map((e) => e.detail.rows)).toEqual([3, 3, 3, 2]); // as the four calls above found them
  });
});
