import type { Registry } from '../kernel/registry.js';
import type { FleetDevice } from './fleet.js';

type Api = <T = unknown>(path: string, body?: unknown) => Promise<{ status: number; body: T }>;

/** Registers one vendor and `count` AquaScale devices through the API; returns their MQTT secrets. */
export async function registerFleet(api: Api, count: number, prefix = 'SOAK'): Promise<FleetDevice[]> {
  const vendorId = `${prefix.toLowerCase()}-vendor`;
  const vendor = await api('/v1/vendors', { id: vendorId, name: `${prefix} vendor` });
  if (vendor.status !== 201 && vendor.status !== 409) throw new Error(`creating the vendor answered ${vendor.status}`);
  const devices: FleetDevice[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `${prefix}-${String(i).padStart(3, '0')}`;
    const created = await api<{ secret: string }>('/v1/devices', { id: deviceId, vendorId, profileId: 'aquascale' });
    if (created.status !== 201) throw new Error(`creating ${deviceId} answered ${created.status}`);
    devices.push({ deviceId, secret: created.body.secret });
  }
  return devices;
}

/** The same straight into a registry (the split layout has no API process in the fault tests). */
export async function registerFleetIn(
  registry: Pick<Registry, 'createVendor' | 'getVendor' | 'createDevice'>,
  count: number,
  prefix = 'SOAK',
): Promise<FleetDevice[]> {
  const vendorId = `${prefix.toLowerCase()}-vendor`;
  if (!(await registry.getVendor(vendorId))) await registry.createVendor({ id: vendorId, name: `${prefix} vendor` });
  const devices: FleetDevice[] = [];
  for (let i = 0; i < count; i++) {
    const deviceId = `${prefix}-${String(i).padStart(3, '0')}`;
    const { secret } = await registry.createDevice({ id: deviceId, vendorId, profileId: 'aquascale' });
    devices.push({ deviceId, secret });
  }
  return devices;
}
