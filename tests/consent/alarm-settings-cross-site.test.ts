import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorld, type World } from './world.js';

/**
 * A clinician of another site cannot silence a participant's alarms: settings are
 * guarded by the participant's own site (its trial's), also before any exist.
 * "granted" and "never" are participants of trial TA at site S; clinicianS2 is bound to S2.
 */
let w: World;
beforeAll(async () => {
  w = await buildWorld();
});
afterAll(async () => w?.dispose());

/**
 * The fall alarms about a participant that S's clinician sees. The world's trials ended
 * long ago, so care.live does not cover a fall now and the clinician sees it withheld
 * (without whom it is about); the admin, who reads unfiltered, says whose it is.
 */
async function falls(participantId: string): Promise<string[]> {
  const ids = (who: 'admin' | 'clinician') =>
    w.call(who, '/v1/alarms?siteId=S').then((r) => r.json().items as { id: string; rule: string; participantId: string | null }[]);
  const about = new Set((await ids('admin')).filter((a) => a.rule === 'fall' && a.participantId === participantId).map((a) => a.id));
  return (await ids('clinician')).filter((a) => about.has(a.id)).map((a) => a.rule);
}

describe('alarm settings across sites', () => {
  it("a clinician of S2 can neither pause nor read the settings of S's participant, and its fall still raises an alarm in S", async () => {
    for (const siteId of ['S', 'S2']) {
      expect((await w.call('clinicianS2', '/v1/alarm-settings/granted', { method: 'PUT', payload: { siteId, paused: true } })).statusCode).toBe(404);
    }
    expect((await w.call('clinicianS2', '/v1/alarm-settings/granted')).statusCode).toBe(404);
    // Nothing was stored: S's clinician sees the defaults, not paused.
    expect((await w.call('clinician', '/v1/alarm-settings/granted')).json()).toMatchObject({ siteId: 'S', paused: false, updatedAt: null });

    w.commit([w.fall('granted')]);
    expect(await falls('granted')).toEqual(['fall']);
  });

  it("the participant's own clinician can pause them (so the test above would see a pause)", async () => {
    const put = await w.call('clinician', '/v1/alarm-settings/never', { method: 'PUT', payload: { siteId: 'S', paused: true } });
    expect(put.statusCode).toBe(200);
    expect((await w.call('clinicianS2', '/v1/alarm-settings/never')).statusCode).toBe(404);
    w.commit([w.fall('never')]);
    expect(await falls('never')).toEqual([]);
  });
});
