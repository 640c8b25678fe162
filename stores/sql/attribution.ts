import type { Attribution } from '../../kernel/ports.js';
import type { Device } from '../../kernel/registry.js';
import type { Assignment, Trial } from '../../kernel/trials.js';

type TrialPlace = Pick<Trial, 'id' | 'siteId' | 'vendorIds' | 'period'>;

/**
 * Who and where a device measured at a time, from trials and assignments held in
 * memory: ingest asks once per message and must not wait on SQL. Loaded at open,
 * written through by every trial and assignment write after it commits, and replaced
 * whole by a reload (stores/sql/read-side.ts).
 *
 * Attribution happens at ingest time and is stored with each point. Changing an
 * assignment later does not re-attribute points already stored (see docs/walkthrough.md).
 */
export class AttributionIndex {
  private trials = new Map<string, TrialPlace>();
  private byDevice = new Map<string, Assignment[]>();

  /**
   * Takes over the contents of `next`, a freshly loaded index nobody else holds: one
   * synchronous step, so a reader sees either the old index or the new one, never a mix.
   */
  replaceWith(next: AttributionIndex): void {
    this.trials = next.trials;
    this.byDevice = next.byDevice;
  }

  setTrial(t: TrialPlace): void {
    this.trials.set(t.id, { id: t.id, siteId: t.siteId, vendorIds: [...t.vendorIds], period: t.period });
  }

  setAssignment(a: Assignment): void {
    const list = (this.byDevice.get(a.deviceId) ?? []).filter((x) => x.id !== a.id);
    list.push(a);
    this.byDevice.set(a.deviceId, list);
  }

  attribute(device: Device, at: number): Attribution {
    const assigned = this.assignmentAt(device.id, at);
    if (assigned) {
      const trial = this.trials.get(assigned.trialId);
      return {
        siteId: trial?.siteId ?? device.siteId,
        roomId: assigned.roomId ?? device.roomId,
        trialId: assigned.trialId,
        participantId: assigned.participantId,
      };
    }
    return { siteId: device.siteId, roomId: device.roomId, trialId: this.deviceDataTrial(device, at), participantId: null };
  }

  private assignmentAt(deviceId: string, at: number): Assignment | undefined {
    // The registry refuses overlapping assignments of one device, so at most one matches.
    return this.byDevice.get(deviceId)?.find((a) => a.from <= at && at < this.endOf(a));
  }

  /** An open assignment runs until its trial ends. */
  private endOf(a: Assignment): number {
    return a.to ?? this.trials.get(a.trialId)?.period.to ?? Infinity;
  }

  /**
   * Device data (nobody assigned) belongs to the trial running at the device's site with
   * the device's vendor, so that the trial's researchers can be given it. When two such
   * trials overlap the point is ambiguous and belongs to neither (fail closed).
   */
  private deviceDataTrial(device: Device, at: number): string | null {
    if (device.siteId === null) return null;
    let found: string | null = null;
    for (const t of this.trials.values()) {
      if (t.siteId !== device.siteId || !t.vendorIds.includes(device.vendorId) || at < t.period.from || at >= t.period.to) continue;
      if (found !== null) return null;
      found = t.id;
    }
    return found;
  }
}
