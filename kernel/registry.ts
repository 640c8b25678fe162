import type { AuditLog } from './audit.js';
import type { ConsentReader } from './consent.js';
import type { ExportLog } from './exports.js';
import type { DeviceDirectory } from './ports.js';
import type { TrialRegistry } from './trials.js';

/**
 * The arena's metadata: sites, rooms, vendors and devices, and on them trials,
 * participants, assignments and consents (kernel/trials.ts), the audit log and the
 * record of exports. One SQL implementation (stores/sql/) runs
 * on the embedded DuckDB store and on PostgreSQL; a contract suite runs against both.
 */
export interface Site {
  readonly id: string;
  readonly name: string;
  readonly kind: 'patient-room' | 'demo-flat' | 'other';
  readonly createdAt: number;
}

export interface Room {
  readonly id: string;
  readonly siteId: string;
  readonly name: string;
  readonly beds: number;
  readonly createdAt: number;
}

export interface Vendor {
  readonly id: string;
  readonly name: string;
  readonly createdAt: number;
}

export interface Device {
  readonly id: string; // also the MQTT username; usually the vendor's serial number
  readonly vendorId: string;
  readonly profileId: string;
  readonly siteId: string | null;
  readonly roomId: string | null;
  readonly label: string;
  readonly active: boolean;
  readonly createdAt: number;
}

export interface NewDevice {
  readonly id: string;
  readonly vendorId: string;
  readonly profileId: string;
  readonly siteId?: string | null;
  readonly roomId?: string | null;
  readonly label?: string;
}

export interface SiteRegistry {
  createSite(site: Omit<Site, 'createdAt'>): Promise<Site>;
  listSites(): Promise<Site[]>;
  getSite(id: string): Promise<Site | undefined>;
  createRoom(room: Omit<Room, 'createdAt'>): Promise<Room>;
  listRooms(siteId?: string): Promise<Room[]>;
}

export interface VendorRegistry {
  createVendor(vendor: Omit<Vendor, 'createdAt'>): Promise<Vendor>;
  listVendors(): Promise<Vendor[]>;
  getVendor(id: string): Promise<Vendor | undefined>;
}

/**
 * The device profiles a registered device may name (device-profiles/load.ts's ProfileSet
 * is one): the registry checks only that a profile exists.
 */
export interface KnownProfiles {
  get(profileId: string): object | undefined;
}

export interface DeviceRegistry {
  /** Registers a device and returns its MQTT secret, which is stored only as a scrypt hash. */
  createDevice(device: NewDevice): Promise<{ device: Device; secret: string }>;
  /** Replaces the secret; the old one stops working at once. */
  rotateDeviceSecret(id: string): Promise<string>;
  setDeviceActive(id: string, active: boolean): Promise<Device>;
  getDevice(id: string): Promise<Device | undefined>;
  listDevices(filter?: { vendorId?: string; siteId?: string }): Promise<Device[]>;
  /** Read side used on the per-message path, answered from memory. */
  readonly directory: DeviceDirectory;
}

export type Registry = SiteRegistry &
  VendorRegistry &
  DeviceRegistry &
  TrialRegistry &
  ExportLog & {
    /** The consent rule's read side (kernel/consent.ts), answered from the current records. */
    readonly consent: ConsentReader;
    readonly audit: AuditLog;
    /**
     * Reads the in-memory read side (device directory, live tokens, attribution) afresh
     * from the store and swaps it in at once; the objects callers hold (`directory`)
     * stay the same. For a store other processes write too (the split layout's shared
     * registry). Resolves once everything committed before the call is visible;
     * concurrent calls share reads. On failure the previous caches stay and it rejects.
     */
    reload(): Promise<void>;
    close(): Promise<void>;
  };
