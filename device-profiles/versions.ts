import type { Decoder } from './decode.js';
import type { ProfileSet } from './load.js';

/**
 * Device profiles with their published versions: `decoders` and `get()` answer the latest
 * version of each profile (what a new device follows), forDevice() the version a device's
 * messages go through (its pinned version, or the latest). A set that changes while the
 * hub runs replaces its `decoders` map on each change, so a reader may keep derived data
 * until it sees another map.
 */
export interface ProfileVersions extends ProfileSet {
  forDevice(deviceId: string, profileId: string): Decoder | undefined;
  version(profileId: string, version: string): Decoder | undefined;
}

/** A device's decoder from any profile set: one without versions has only the latest. */
export const decoderFor = (profiles: ProfileSet | ProfileVersions, deviceId: string, profileId: string): Decoder | undefined =>
  'forDevice' in profiles ? profiles.forDevice(deviceId, profileId) : profiles.get(profileId);

/** Semantic versions (x.y.z, device-profiles/schema.ts) in numeric order. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface Pin {
  readonly profileId: string;
  readonly version: string;
}

/**
 * The in-memory versions: grown by add() (a published version never changes, so nothing
 * is ever replaced or removed) and the pins swapped whole by setPins().
 */
export class VersionedProfileSet implements ProfileVersions {
  readonly #versions = new Map<string, Map<string, Decoder>>();
  #latest: ReadonlyMap<string, Decoder> = new Map();
  #pins: ReadonlyMap<string, Pin> = new Map();

  get decoders(): ReadonlyMap<string, Decoder> {
    return this.#latest;
  }

  get(profileId: string): Decoder | undefined {
    return this.#latest.get(profileId);
  }

  version(profileId: string, version: string): Decoder | undefined {
    return this.#versions.get(profileId)?.get(version);
  }

  forDevice(deviceId: string, profileId: string): Decoder | undefined {
    const pin = this.#pins.get(deviceId);
    // A pin to another profile is stale (the device's profile was changed): the device's own profile wins.
    if (pin && pin.profileId === profileId) return this.version(profileId, pin.version);
    return this.#latest.get(profileId);
  }

  has(profileId: string, version: string): boolean {
    return this.#versions.get(profileId)?.has(version) ?? false;
  }

  /** Every version of a profile, oldest first. */
  versionsOf(profileId: string): string[] {
    return [...(this.#versions.get(profileId)?.keys() ?? [])].sort(compareVersions);
  }

  pinOf(deviceId: string): Pin | undefined {
    return this.#pins.get(deviceId);
  }

  pinnedTo(profileId: string): { deviceId: string; version: string }[] {
    return [...this.#pins].filter(([, p]) => p.profileId === profileId).map(([deviceId, p]) => ({ deviceId, version: p.version }));
  }

  /** Adds published versions; the latest of each profile is the highest version. */
  add(decoders: Iterable<Decoder>): void {
    let changed = false;
    for (const d of decoders) {
      const { id, version } = d.profile;
      let versions = this.#versions.get(id);
      if (!versions) this.#versions.set(id, (versions = new Map()));
      if (versions.has(version)) continue;
      versions.set(version, d);
      changed = true;
    }
    if (!changed) return;
    const latest = new Map<string, Decoder>();
    for (const [id, versions] of [...this.#versions].sort(([a], [b]) => a.localeCompare(b))) {
      const top = [...versions.keys()].sort(compareVersions).at(-1)!;
      latest.set(id, versions.get(top)!);
    }
    this.#latest = latest;
  }

  setPins(pins: ReadonlyMap<string, Pin>): void {
    this.#pins = pins;
  }
}

/**
 * Why a profile's command topic is unsafe, or undefined: a wildcard there would let a
 * device subscribe to other devices' commands. The broker refuses to start with one
 * (broker/topics.ts); a version uploaded to a running hub is refused before it is stored.
 */
export const commandTopicProblem = (commandTopic: string): string | undefined =>
  /[#+\0]/.test(commandTopic) || !commandTopic.includes('{deviceId}') ? 'must contain {deviceId} and no wildcards' : undefined;
