import type { Decoder } from './decode.js';
import { HubError, type ErrorIssue } from '../kernel/errors.js';
import type { Catalogue } from '../kernel/measurements.js';
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

  constructor(readonly catalogue: Catalogue) {}

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

/** Where a version came from: the hub's profile folder, or an upload through the API. */
export type ProfileSource = 'folder' | 'api';

export interface ProfileVersionInfo {
  readonly profileId: string;
  readonly version: string;
  readonly source: ProfileSource;
  readonly publishedAt: number;
  /** The API token that published it; null for the folder. */
  readonly publishedBy: string | null;
}

export type CheckedProfile = { readonly ok: true; readonly decoder: Decoder } | { readonly ok: false; readonly issues: ErrorIssue[] };

export interface ProfileCatalog extends ProfileVersions {
  /** Parses and checks a YAML text as parseProfile() does, with every problem found and its path. */
  check(yaml: string): CheckedProfile;
  /**
   * Stores a new version, in force in this process at once (in others after their reload).
   * The same text again is no change (`created` false); other text under a published
   * version is a CONFLICT, and an invalid one PROFILE_INVALID with its issues.
   */
  publish(yaml: string, by: { source: ProfileSource; tokenId: string | null }): Promise<{ info: ProfileVersionInfo; created: boolean }>;
  listVersions(profileId: string): Promise<ProfileVersionInfo[]>;
  yamlOf(profileId: string, version: string): Promise<string | undefined>;
  /** Pins a device to a published version of its profile; null: it follows the latest again. */
  pin(deviceId: string, profileId: string, version: string | null): Promise<void>;
  pinOf(deviceId: string): Pin | undefined;
  /** Reads versions and pins published by other processes. */
  reload(): Promise<void>;
  /**
   * Recompiles every published version against another catalogue (an arena's catalogue
   * files changed) and puts both in force together. When a version in force does not
   * compile against it, nothing changes and the answer says why, one line per version.
   */
  useCatalogue(next: Catalogue): Promise<string[]>;
}

/** PROFILE_INVALID with every issue (the API answers 422 with them, api/problem.ts). */
export const profileInvalid = (issues: readonly ErrorIssue[]): HubError =>
  new HubError('PROFILE_INVALID', issues.map((i) => `${i.path || '(document)'}: ${i.message}`).join('; '), { issues });
