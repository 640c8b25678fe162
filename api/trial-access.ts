import { HubError } from '../kernel/errors.js';
import type { Principal } from '../kernel/principal.js';
import type { PointQuery } from '../kernel/ports.js';
import type { Registry } from '../kernel/registry.js';
import type { Trial } from '../kernel/trials.js';

/**
 * The trial a principal may see: an admin any, a researcher those its token is bound to,
 * a vendor those it takes part in. Any other trial answers exactly like a missing one,
 * so a researcher of trial A cannot even learn that trial B exists.
 */
export async function visibleTrial(registry: Pick<Registry, 'getTrial'>, principal: Principal, id: string): Promise<Trial> {
  const trial = await registry.getTrial(id);
  const allowed =
    trial !== undefined &&
    (principal.role === 'admin' ||
      (principal.role === 'researcher' && principal.trialIds.includes(trial.id)) ||
      (principal.role === 'vendor' && trial.vendorIds.includes(principal.vendorId)));
  if (!allowed) throw new HubError('NOT_FOUND', `no trial "${id}"`);
  return trial;
}

/**
 * The consent filter for a principal reading a device's data (api/routes/device-data.ts).
 * Admin (arena staff) is not an audience of the consent rule and reads unfiltered,
 * audited. A vendor gets device data, plus points about participants of the trials it
 * takes part in inside their vendor.telemetry windows as of `now`.
 */
export async function deviceRelease(registry: Pick<Registry, 'listTrials' | 'consent'>, principal: Principal, now: number): Promise<PointQuery['release']> {
  if (principal.role === 'admin') return undefined;
  if (principal.role !== 'vendor') return { windows: [], includeDeviceData: false };
  const trials = await registry.listTrials({ vendorId: principal.vendorId });
  const windows = (await Promise.all(trials.map((t) => registry.consent.windows(t.id, 'vendor.telemetry', now)))).flat();
  return { windows, includeDeviceData: true };
}
