import type { Device, DeviceRegistry } from '../kernel/registry.js';
import type { Principal } from '../kernel/principal.js';
import { HubError } from '../kernel/errors.js';
import type { View } from './schemas/telemetry.js';

/**
 * The device a principal may read data of. Someone else's device answers exactly like
 * a missing one, so a vendor cannot learn which devices other vendors have.
 */
export async function readableDevice(devices: Pick<DeviceRegistry, 'getDevice'>, principal: Principal, id: string): Promise<Device> {
  const device = await devices.getDevice(id);
  const allowed = device !== undefined && (principal.role === 'admin' || (principal.role === 'vendor' && device.vendorId === principal.vendorId));
  if (!allowed) throw new HubError('NOT_FOUND', `no device "${id}"`);
  return device;
}

/** Only an admin sees where and whom data was measured; everyone else gets the narrow view. */
export const viewFor = (principal: Principal): View => (principal.role === 'admin' ? 'full' : 'vendor');
