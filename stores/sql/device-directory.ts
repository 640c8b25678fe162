import type { Attribution, DeviceCredentials, DeviceDirectory } from '../../kernel/ports.js';
import type { Device } from '../../kernel/registry.js';
import { AttributionIndex } from './attribution.js';

const UNATTRIBUTED: Attribution = Object.freeze({ siteId: null, roomId: null, trialId: null, participantId: null });

/**
 * The per-message read side of the device registry, held in memory: the broker checks
 * credentials on every CONNECT and ingest attributes every message, so neither may wait
 * on SQL. Loaded at open and written through by every registry write after it commits.
 */
export class DeviceCache implements DeviceDirectory {
  private readonly byId = new Map<string, { device: Device; secretHash: string }>();

  constructor(private readonly index: AttributionIndex = new AttributionIndex()) {}

  set(device: Device, secretHash: string): void {
    this.byId.set(device.id, { device, secretHash });
  }

  setSecretHash(deviceId: string, secretHash: string): void {
    const entry = this.byId.get(deviceId);
    if (entry) entry.secretHash = secretHash;
  }

  async credentials(deviceId: string): Promise<DeviceCredentials | undefined> {
    const entry = this.byId.get(deviceId);
    if (!entry) return undefined;
    const { device, secretHash } = entry;
    return { deviceId: device.id, profileId: device.profileId, secretHash, active: device.active };
  }

  profileOf(deviceId: string): string | undefined {
    return this.byId.get(deviceId)?.device.profileId;
  }

  /** Where the device is placed and, from trials and assignments, which trial and participant it measured at `at`. */
  attribution(deviceId: string, at: number): Attribution {
    const device = this.byId.get(deviceId)?.device;
    if (!device) return UNATTRIBUTED;
    return this.index.attribute(device, at);
  }
}
