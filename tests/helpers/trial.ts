import { expect } from 'vitest';

export const HOUR = 3_600_000;

/** A hub answering its API as the admin: the in-process test hub or a hub process of its own. */
export interface AdminApi {
  api(path: string, init?: { body?: unknown }): Promise<{ status: number; body: any }>;
}

/** POSTs `body` to `path` as the admin, expects `status` (201 unless said) and resolves with the answer's body. */
export function adminPost(hub: AdminApi): (path: string, body: unknown, status?: number) => Promise<any> {
  return async (path, body, status = 201) => {
    const res = await hub.api(path, { body });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(status);
    return res.body;
  };
}

export interface FluidTrialOptions {
  /** The trial's period starts here and lasts 24 hours; consents are granted from here. */
  readonly start: number;
  readonly vendor?: { readonly id: string; readonly name: string };
  /** Devices of the vendor, registered in room-1. */
  readonly devices?: readonly { readonly id: string; readonly profileId: string }[];
  /** Participants enrolled in the trial, each with research consent from `start`. */
  readonly participants?: readonly string[];
}

export interface FluidTrial {
  /** Each device's secret, as the registration answered it. */
  readonly secrets: ReadonlyMap<string, string>;
  /** A researcher token for the trial. */
  readonly researcher: string;
}

/**
 * The fluid-balance trial the hub-level tests run on, made through the API: site `ward`
 * with one bed in `room-1`, one vendor (AquaScale unless said) and its devices there,
 * trial `fluid` (REK 2025/1) at the ward with that vendor, its participants with research
 * consent, and a researcher token for it.
 */
export async function fluidTrial(hub: AdminApi, opts: FluidTrialOptions): Promise<FluidTrial> {
  const ok = adminPost(hub);
  const vendor = opts.vendor ?? { id: 'aqua', name: 'AquaScale' };
  await ok('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await ok('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 1 });
  await ok('/v1/vendors', vendor);
  const secrets = new Map<string, string>();
  for (const { id, profileId } of opts.devices ?? []) {
    secrets.set(id, (await ok('/v1/devices', { id, vendorId: vendor.id, profileId, roomId: 'room-1' })).secret);
  }
  await ok('/v1/trials', {
    id: 'fluid',
    name: 'Fluid balance',
    siteId: 'ward',
    vendorIds: [vendor.id],
    protocolRef: 'REK 2025/1',
    period: { from: opts.start, to: opts.start + 24 * HOUR },
  });
  for (const id of opts.participants ?? []) {
    await ok('/v1/trials/fluid/participants', { id });
    await ok(`/v1/participants/${id}/consents`, { scope: 'research', grantedAt: opts.start, formVersion: 'v1' });
  }
  const researcher = (await ok('/v1/tokens', { role: 'researcher', trialIds: ['fluid'], label: 'study' })).token as string;
  return { secrets, researcher };
}
