import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorld, type World } from './world.js';

/**
 * Research datasets carry no identifier another audience sees beside the participant:
 * the hub's alarm ids (shown to clinicians and admins with the real participant id) are
 * replaced in datasets by a per-trial, per-audience reference, as participants are.
 */
const HOUR = 3_600_000;
let w: World;
let researcher: string;
beforeAll(async () => {
  w = await buildWorld();
  const now = Date.now();
  await w.registry.createTrial({
    id: 'TC',
    name: 'Trial C',
    siteId: 'S',
    vendorIds: ['VB'],
    protocolRef: 'REK C',
    period: { from: now - 24 * HOUR, to: now + 24 * HOUR },
  });
  await w.registry.enrolParticipant({ id: 'c1', trialId: 'TC' });
  const grant = await w.call('admin', '/v1/participants/c1/consents', {
    method: 'POST',
    payload: { scope: 'research', grantedAt: now - HOUR, formVersion: 'v1' },
  });
  expect(grant.statusCode).toBe(201);
  researcher = (await w.registry.issueToken({ role: 'researcher', trialIds: ['TC'], label: 'study C', expiresAt: null })).token;
});
afterAll(async () => w?.dispose());

describe('alarm ids in datasets', () => {
  it('no alarm id from /v1/alarms appears in the research dataset; its alarm events carry a reference instead', async () => {
    w.commit([{ ...w.fall('c1'), trialId: 'TC' }]);
    await w.alarms.flush();
    const alarms = (await w.call('admin', '/v1/alarms?state=all')).json().items as { id: string; participantId: string | null }[];
    const mine = alarms.filter((a) => a.participantId === 'c1');
    expect(mine).toHaveLength(1);

    for (const format of ['ndjson', 'csv']) {
      const res = await w.app.inject({ url: `/v1/trials/TC/dataset?format=${format}`, headers: { authorization: `Bearer ${researcher}` } });
      expect(res.statusCode).toBe(200);
      for (const a of alarms) expect(res.body).not.toContain(a.id);
      // No cell is the participant id ('c1' may well occur inside a hex reference).
      const cells = res.body.split(/[\n,{}":]+/);
      expect(cells).not.toContain('c1');
    }
    const ndjson = await w.app.inject({ url: '/v1/trials/TC/dataset?format=ndjson', headers: { authorization: `Bearer ${researcher}` } });
    const rows = ndjson.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { name: string; attributes: string | null });
    const raised = rows.filter((r) => r.name === 'alarm_raised');
    expect(raised).toHaveLength(1);
    expect(JSON.parse(raised[0]!.attributes!)).toMatchObject({ alarmId: expect.stringMatching(/^[0-9a-f]{20}$/), rule: 'fall' });
  });
});
