import type { CommittedDelivery } from './committed-wire.js';
import type { IndicatorCounts, IndicatorQuery } from './indicators.js';
import type { Family, IngestBatch, InboundMessage, Point, Rejection, RejectionCode, WriteResult } from './telemetry.js';

/**
 * Ports: small role interfaces. Adapters live under stores/; composition roots
 * (hub/main.ts and each service's main.ts) are the only places that build them.
 */

/** Hands one message to ingest; resolves once it is durably committed (or durably rejected). */
export type MessageSink = (message: InboundMessage) => Promise<void>;

/** A participant's allowed interval for one audience, in epoch ms, [from, to). */
export interface ReleaseWindow {
  readonly participantId: string;
  readonly from: number;
  readonly to: number;
}

export interface PointQuery {
  readonly deviceIds?: readonly string[];
  readonly trialId?: string;
  readonly family?: Family;
  readonly kind?: 'reading' | 'event';
  readonly names?: readonly string[];
  /** Device time, epoch ms, [from, to). */
  readonly from?: number;
  readonly to?: number;
  /** Receipt time, epoch ms: only points received after it (the alarm engine's restart replay). */
  readonly receivedAfter?: number;
  /**
   * Consent filter. When present, a point attributed to a participant is returned only
   * inside one of that participant's windows; unattributed points (device data) only
   * when includeDeviceData is true.
   */
  readonly release?: { readonly windows: readonly ReleaseWindow[]; readonly includeDeviceData: boolean };
  readonly order?: 'asc' | 'desc';
  readonly limit?: number;
}

export interface BucketQuery extends PointQuery {
  readonly bucketMs: number;
}

export interface Bucket {
  readonly start: number; // epoch ms
  readonly deviceId: string;
  readonly name: string;
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly sum: number;
}

export interface RejectionQuery {
  readonly deviceIds?: readonly string[];
  readonly from?: number; // received time
  readonly to?: number;
  readonly limit?: number;
}

export interface RejectionCount {
  readonly deviceId: string;
  readonly code: RejectionCode;
  readonly count: number;
}

/** A dataset column as datasets/columns.ts defines it: its name says what it holds. */
export interface DatasetColumnSpec {
  readonly name: string;
  readonly type: 'VARCHAR' | 'DOUBLE' | 'INTEGER' | 'BOOLEAN' | 'TIMESTAMPTZ';
}

/** One trial dataset for a store to write itself. */
export interface DatasetExportRequest {
  /** The rows: always consent-filtered; ordered by device time, then message id (unsigned), then seq. */
  readonly query: Omit<PointQuery, 'release' | 'order' | 'limit'> & { readonly release: NonNullable<PointQuery['release']> };
  readonly columns: readonly DatasetColumnSpec[];
  readonly format: 'csv' | 'ndjson' | 'parquet';
  /** What the audience sees for a participant; asked once per participant with a release window. */
  readonly pseudonym: (participantId: string) => string;
  /**
   * The hub's own alarm events (stored under `deviceId`) name their alarm in
   * attributes.alarmId, which clinicians see beside the real participant; the audience
   * gets `ref(alarmId)` there instead, asked once per alarm exported.
   */
  readonly alarmEvents: { readonly deviceId: string; readonly ref: (alarmId: string) => string };
  /** The trial's baseline period (epoch ms, [from, to)) for the phase column; null when it has none. */
  readonly baseline: { readonly from: number; readonly to: number } | null;
  /** When the intervention started (epoch ms); null: at the end of the baseline. */
  readonly interventionFrom: number | null;
}

export interface DatasetRowCounts {
  readonly total: number;
  readonly readings: number;
  readonly events: number;
  /** Rows with no participant (device data). */
  readonly deviceData: number;
}

/**
 * Writes a dataset file inside the store's engine instead of handing every point to JS.
 * The file must hold exactly what datasets/ renders from points() for the same request:
 * the same bytes for CSV and NDJSON, the same schema and values for Parquet
 * (tests/datasets/export-parity.test.ts holds adapters to that).
 */
export interface DatasetExporter {
  /** `file` is the caller's and does not exist yet; the counts are of exactly the rows written. */
  exportTo(request: DatasetExportRequest, file: string): Promise<DatasetRowCounts>;
}

/**
 * Time-series storage for telemetry. One contract suite
 * (tests/contract/telemetry-store.contract.ts) runs against every adapter. Its rules:
 * a batch whose points or rejections name a message not listed in `messages` is refused
 * whole; a message listed twice is stored once; an empty id or name list matches nothing;
 * ties in device time are ordered by message id (unsigned) then seq; erasure keeps the
 * message ids, so a redelivered message cannot bring erased points back; a message has
 * at most one rejection.
 */
export interface TelemetryStore {
  /** Atomic group commit; a message id already stored is skipped (exactly-once). */
  write(batch: IngestBatch): Promise<WriteResult>;
  /** Streams matching points ordered by device time (then message, seq), in bounded memory. */
  points(query: PointQuery): AsyncIterable<Point>;
  /** Readings only: per device, measurement and time bucket. */
  aggregate(query: BucketQuery): Promise<Bucket[]>;
  rejections(query: RejectionQuery): Promise<Rejection[]>;
  rejectionCounts(query: RejectionQuery): Promise<RejectionCount[]>;
  /** Optional: datasets written by the engine itself; without it, exports stream points(). */
  exportTo?(request: DatasetExportRequest, file: string): Promise<DatasetRowCounts>;
  /** Optional: trial indicators counted by the engine (kernel/indicators.ts); without it, reports count from points() (reports/point-counts.ts). */
  indicatorCounts?(query: IndicatorQuery): Promise<IndicatorCounts>;
  /** Optional: deletes rejections received before `before` (epoch ms), returns how many; retention. */
  expireRejections?(before: number): Promise<number>;
  /** Optional: a closed trial's points moved to an archive the dataset export still reads; returns how many (retention). */
  archiveTrial?(trialId: string): Promise<number>;
  /** Optional: a closed trial's points, rejections and archives deleted with an erasure's guarantees; returns the points (retention). */
  deleteTrial?(trialId: string): Promise<number>;
  /** Erasure: deletes every point attributed to the participant; returns how many. */
  eraseParticipant(participantId: string): Promise<number>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** What the broker needs to know about a device to let it in. */
export interface DeviceCredentials {
  readonly deviceId: string;
  readonly profileId: string;
  /** Whose device it is (the vendor-wide quota); optional for directories that do not know. */
  readonly vendorId?: string;
  readonly secretHash: string; // scrypt, see kernel/secrets.ts
  readonly active: boolean;
}

/** Where and whom a device measured at a given time. */
export interface Attribution {
  readonly siteId: string | null;
  readonly roomId: string | null;
  readonly trialId: string | null;
  readonly participantId: string | null;
}

/** Read side of the device registry used on the per-message path; must answer from memory. */
export interface DeviceDirectory {
  credentials(deviceId: string): Promise<DeviceCredentials | undefined>;
  /** Synchronous on purpose: called once per message on the ingest hot path. */
  profileOf(deviceId: string): string | undefined;
  /**
   * The secret hash an active device has now; undefined when it is unknown or
   * deactivated. Synchronous: the broker compares it with the one a connection logged in
   * with on every publish, so a device deactivated or re-keyed is cut off at once.
   */
  activeSecretHash(deviceId: string): string | undefined;
  attribution(deviceId: string, at: number): Attribution;
}

/**
 * Grafana's consent-filtered copy of the telemetry (compose): only what the ward may show
 * (stores/influx/grafana-mirror.ts).
 */
export interface GrafanaMirror {
  /** Copies what may be shown of committed points; resolves once written (or given up: logged). */
  copy(deliveries: readonly CommittedDelivery[]): Promise<void>;
  /**
   * Deletes a participant's points from the bucket (care.live withdrawn, or erased).
   * Rejects when InfluxDB refuses; the mirror then tries again before each later copy.
   */
  forget(participantId: string): Promise<void>;
  /**
   * Makes the bucket hold exactly what care.live now covers of a participant: deletes
   * their points, then copies again from the hub's store what their current windows cover
   * (a grant dated back, or another care.live record still held after a withdrawal).
   */
  refresh(participantId: string, trialId: string): Promise<void>;
  close(): Promise<void>;
}

/** How a durable queue in front of a store (stores/outbox) is delivering: an outage shows here. */
export interface DeliveryStatus {
  /** The store refuses deliveries for want of resources (or refuses every batch): an outage. */
  readonly storeFailing: boolean;
  /** ISO time of the first refusal of the current outage. */
  readonly failingSince: string | null;
  readonly lastError: string | null;
  /** Journal bytes acknowledged and not yet in the store. */
  readonly waitingBytes: number;
  /** Batches in dead-letter.ndjson, waiting for requeueSetAside(). */
  readonly setAsideBatches: number;
  readonly setAsideMessages: number;
}
