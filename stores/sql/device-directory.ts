import type { Attribution, DeviceCredentials, DeviceDirectory } from '../../kernel/ports.js';
import type { Device } from '../../kernel/registry.js';
import { AttributionIndex } from './attribution.js';

const UNATTRIBUTED: Attribution = Object.freeze({ siteId: null, roomId: null, trialId: null, participantId: null });

/**
 * The per-message read side of the device registry, held in memory: the broker checks
 * credentials on every CONNECT and ingest attributes every message, so neither may wait
 * on SQL. Loaded at open, written through by every registry write after it commits, and
 * replaced whole by a reload (stores/sql/read-side.ts).
 */
export class DeviceCache implements DeviceDirectory {
  private byId = new Map<string, { device: Device; secretHash: string }>();

  constructor(private readonly index: AttributionIndex = new AttributionIndex()) {}

  /**
   * Takes over the devices of `next`, a freshly loaded cache nobody else holds. Only the
   * device map moves: this cache keeps its own attribution index, which the reload
   * replaces in the same synchronous step.
   */
  replaceWith(next: DeviceCache): void {
    this.byId = next.byId;
  }

  set(device: Device, secretHash: string): void {
    this.byId.set(device.id, { device, secretHash });
  }

  async credentials(deviceId: string): Promise<DeviceCredentials | undefined> {
    const entry = this.byId.get(deviceId);
    if (!entry) return undefined;
    const { device, secretHash } = entry;
    return { deviceId: device.id, profileId: device.profileId, vendorId: device.vendorId, secretHash, active: device.active };
  }

  profileOf(deviceId: string): string | undefined {
    return this.byId.get(deviceId)?.device.profileId;
  }

  activeSecretHash(deviceId: string): string | undefined {
    const entry = this.byId.get(deviceId);
    return entry?.device.active ? entry.secretHash : undefined;
  }

  /** Where the device is placed and, from trials and assignments, which trial and participant it measured at `at`. */
  attribution(deviceId: string, at: number): Attribution {
    const device = this.byId.get(deviceId)?.device;
    if (!device) return UNATTRIBUTED;
    return this.index.attribute(device, at);
  }
}
