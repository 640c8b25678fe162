import type { Json } from '../kernel/audit.js';

/**
 * What a researcher needs to compute completeness outside the hub: how often each
 * exportable device's profile expects a record. Per-pseudonym observation periods are
 * not here (the manifest is kept in the registry, and a pseudonym kept there would
 * outlive the participant's erasure) but built at request time: observation-periods.ts.
 */
export interface Denominators {
  readonly devices: readonly { deviceId: string; profileId: string; expectedIntervalS: number }[];
}

export function buildDenominators(m: {
  devices: readonly { id: string; profileId: string }[];
  expectedIntervalS: (profileId: string) => number | undefined;
}): Denominators {
  const devices = m.devices
    .flatMap((d) => {
      const s = m.expectedIntervalS(d.profileId);
      return s === undefined ? [] : [{ deviceId: d.id, profileId: d.profileId, expectedIntervalS: s }];
    })
    .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  return { devices };
}

export const denominatorsJson = (d: Denominators): { [key: string]: Json } => ({ devices: d.devices.map((x) => ({ ...x })) });
