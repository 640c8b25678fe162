import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorld, T0, type World } from './world.js';

let w: World;
beforeAll(async () => {
  w = await buildWorld();
});
afterAll(async () => w?.dispose());

const consentsOf = async (participantId: string) =>
  (await w.call('admin', `/v1/participants/${participantId}/consents`)).json().items as { id: string; scope: string; withdrawnAt: string | null }[];

describe('a changed consent takes effect on the very next request', () => {
  it('withdrawing research removes the participant from the next research export, and only from research', async () => {
    expect(await w.labels('researcherA', '/v1/trials/TA/dataset?format=csv')).toEqual(['granted/A1', 'granted/B1', 'research/A1', 'research/B1']);
    const research = (await consentsOf('granted')).find((c) => c.scope === 'research')!;
    expect((await w.call('admin', `/v1/consents/${research.id}/withdraw`, { method: 'POST', payload: {} })).statusCode).toBe(200);

    expect(await w.labels('researcherA', '/v1/trials/TA/dataset?format=csv')).toEqual(['research/A1', 'research/B1']);
    // The vendor audience has its own consent, still granted.
    expect(await w.labels('vendorA', '/v1/devices/A1/readings')).toEqual(['dev/A1', 'granted/A1', 'vendor/A1']);
  });

  it('withdrawing vendor.telemetry hides the participant from the vendor device routes and exports at once', async () => {
    const vendor = (await consentsOf('vendor')).find((c) => c.scope === 'vendor.telemetry')!;
    await w.call('admin', `/v1/consents/${vendor.id}/withdraw`, { method: 'POST', payload: {} });
    expect(await w.labels('vendorA', '/v1/devices/A1/readings')).toEqual(['dev/A1', 'granted/A1']);
    expect(await w.labels('vendorB', '/v1/trials/TA/dataset?format=ndjson')).toEqual(['dev/B1', 'granted/B1']);
  });

  it('a new grant after a withdrawal covers only data measured after it', async () => {
    // "never" grants research now, long after its measurement: still nothing of it is released.
    const res = await w.call('admin', '/v1/participants/never/consents', { method: 'POST', payload: { scope: 'research', grantedAt: T0, formVersion: 'v2' } });
    expect(res.statusCode).toBe(201);
    // Granted at T0, before "never"'s measurement at T0 + 20 min: released from the next request on.
    expect(await w.labels('researcherA', '/v1/trials/TA/dataset?format=csv')).toEqual(['never/A1', 'never/B1', 'research/A1', 'research/B1']);
    // Re-granting to "granted" after its withdrawal does not bring back what was measured before.
    const again = await w.call('admin', '/v1/participants/granted/consents', {
      method: 'POST',
      payload: { scope: 'research', grantedAt: Date.now() - 1000, formVersion: 'v2' },
    });
    expect(again.statusCode).toBe(201);
    expect(await w.labels('researcherA', '/v1/trials/TA/dataset?format=csv')).toEqual(['never/A1', 'never/B1', 'research/A1', 'research/B1']);
  });

  it('erasure deletes the points from the store, for everyone including admin, and is audited', async () => {
    const res = await w.call('admin', '/v1/participants/research/data', { method: 'DELETE' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ participantId: 'research', erasedPoints: 2 });
    expect(await w.labels('admin', '/v1/devices/A1/readings')).not.toContain('research/A1');
    expect(await w.labels('researcherA', '/v1/trials/TA/dataset?format=csv')).toEqual(['never/A1', 'never/B1']);
    let left = 0;
    for await (const p of w.store.points({})) if (p.participantId === 'research') left++;
    expect(left).toBe(0);
    const audit = (await w.call('admin', '/v1/audit?action=DELETE%20/v1/participants/:id/data&limit=1000')).json().items as {
      target: string;
      detail: { erasedPoints: number };
    }[];
    expect(audit.find((e) => e.target === '/v1/participants/research/data')?.detail.erasedPoints).toBe(2);
    // Nothing new is attributed to an erased participant, nor can it get new consents.
    expect(
      (await w.call('admin', '/v1/participants/research/consents', { method: 'POST', payload: { scope: 'research', grantedAt: T0, formVersion: 'v3' } }))
        .statusCode,
    ).toBe(409);
  });

  it('a token bound to another trial cannot be issued for a trial that does not exist', async () => {
    const res = await w.call('admin', '/v1/tokens', { method: 'POST', payload: { role: 'researcher', trialIds: ['T-nope'], label: 'x' } });
    expect(res.statusCode).toBe(400);
    expect(res.json().detail).toMatch(/trialIds/);
  });
});
