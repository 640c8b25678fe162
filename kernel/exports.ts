import type { Json } from './audit.js';
import type { ConsentScope } from './consent.js';

/** A dataset that left the hub: who got it and its manifest, kept so the manifest can be fetched later. */
export interface ExportRecord {
  readonly id: string;
  readonly trialId: string;
  readonly audience: ConsentScope;
  /** The vendor of a vendor export; null for research. */
  readonly vendorId: string | null;
  readonly tokenId: string;
  readonly createdAt: number;
  readonly manifest: { readonly [key: string]: Json };
}

export interface ExportLog {
  recordExport(record: ExportRecord): Promise<void>;
  getExport(id: string): Promise<ExportRecord | undefined>;
}
