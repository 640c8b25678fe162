import type { Registry } from '../../kernel/registry.js';

/** The registry the InfluxDB erasure tests share: one site, vendor and trial (from 0 to a day after `t`), participants P and Q. */
export async function seedTwoParticipants(registry: Registry, p: string, q: string, t: number): Promise<void> {
  await registry.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
  await registry.createVendor({ id: 'aqua', name: 'AquaScale' });
  await registry.createTrial({
    id: 'trial-1',
    name: 'Trial 1',
    siteId: 'site-a',
    vendorIds: ['aqua'],
    protocolRef: 'REK 1',
    period: { from: 0, to: t + 86_400_000 },
  });
  await registry.enrolParticipant({ id: p, trialId: 'trial-1' });
  await registry.enrolParticipant({ id: q, trialId: 'trial-1' });
}
