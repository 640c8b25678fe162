/**
 * Free space where the hub writes, as the disk watch (hub/disk-watch.ts) last saw it.
 * 'low': below the soft mark, a warning; 'full': below the hard mark, the hub takes no
 * new messages until space returns.
 */
export type DiskLevel = 'ok' | 'low' | 'full';

export interface DiskPlace {
  /** What the hub keeps there: 'data' (registry, telemetry), 'journal', 'export' (datasets being written). */
  readonly role: string;
  readonly path: string;
  readonly freeBytes: number;
  readonly totalBytes: number;
  readonly level: DiskLevel;
}

export interface DiskReport {
  /** The worst level of the places that stop ingest when full. */
  readonly level: DiskLevel;
  /** Why, in words an operator acts on; undefined while every place is 'ok'. */
  readonly reason: string | undefined;
  readonly places: DiskPlace[];
  readonly softMinBytes: number;
  readonly hardMinBytes: number;
  /** Since the process started: times the hub stopped taking messages. */
  readonly stops: number;
}
