import type { Device } from '../kernel/registry.js';
import { HUB, fhirId, iso } from './systems.js';
import type { Resource } from './types.js';

/** What a device's profile says about the model (device-profiles/schema.ts). */
export interface DeviceModel {
  readonly profileId: string;
  readonly version: string;
  readonly vendor: string;
  readonly model: string;
  readonly family: string;
  readonly familyLabel: string | undefined;
}

/** A registered device: identifier and serial number are its hub id (usually the vendor's serial), the rest from its profile. */
export function toDevice(d: Device, model: DeviceModel | undefined): Resource {
  return {
    resourceType: 'Device',
    id: fhirId(d.id),
    meta: { lastUpdated: iso(d.createdAt) },
    identifier: [{ system: HUB.device, value: d.id }],
    status: d.active ? 'active' : 'inactive',
    serialNumber: d.id,
    deviceName: [{ name: d.label || d.id, type: 'user-friendly-name' }, ...(model ? [{ name: model.model, type: 'model-name' }] : [])],
    ...(model
      ? {
          manufacturer: model.vendor,
          modelNumber: model.model,
          type: { coding: [{ system: HUB.family, code: model.family, ...(model.familyLabel ? { display: model.familyLabel } : {}) }] },
          version: [{ type: { coding: [{ system: HUB.profile, code: model.profileId }], text: 'device profile' }, value: model.version }],
        }
      : {}),
  };
}
