import type { Logger } from 'pino';
import type { ApiLimits, FhirSettings } from './config.js';
import type { PushStatus } from '../fhir/push.js';
import type { AlarmService, LiveFeed } from '../kernel/alarms.js';
import type { BoardPairings } from '../kernel/board-pairings.js';
import type { ProfileSet } from '../device-profiles/load.js';
import type { DiskPlace, DiskReport } from '../kernel/disk.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { TlsFiles } from '../kernel/tls.js';
import type { HubMetrics } from '../kernel/metrics.js';
import type { Registry } from '../kernel/registry.js';
import type { ConformanceService } from '../kernel/conformance.js';
import type { RejectionCode } from '../kernel/telemetry.js';
import type { TokenRegistry } from '../kernel/tokens.js';
import type { TrialRetentionService } from '../kernel/trial-retention.js';
import type { ErasureTargets } from './erasure.js';
import type { DeliveryStatus, GrafanaMirror } from '../kernel/ports.js';

/** Ingest counters as the API shows them (ingest/stats.ts snapshot()). */
export interface IngestStatsSnapshot {
  readonly received: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly acknowledged: number;
  readonly storedMessages: number;
  readonly duplicates: number;
  readonly batches: number;
  readonly failedMessages: number;
  readonly largestBatch: number;
  readonly rejectedByCode: Readonly<Partial<Record<RejectionCode, number>>>;
  /** The all-in-one hub's journal in front of its store (stores/outbox/outbox.ts). */
  readonly journal?: DeliveryStatus;
  /** The broker's quota counters, where the broker runs in the same process. */
  readonly quota?: QuotaCounts;
  /** The FHIR push's queue and counters (fhir/push.ts), where one runs. */
  readonly fhirPush?: PushStatus;
  readonly disk?: { readonly level: DiskReport['level']; readonly reason: string | undefined; readonly stops: number; readonly places: DiskPlace[] };
}

interface QuotaCounts {
  readonly pacedMessages: number;
  readonly disconnects: number;
  readonly devices: { readonly deviceId: string; readonly paced: number; readonly disconnects: number }[];
  readonly vendors: { readonly vendorId: string; readonly paced: number; readonly disconnects: number }[];
}

/** Everything the API needs; the composition root builds it and owns its lifetime. */
export interface ApiDeps {
  readonly registry: Registry & TokenRegistry;
  readonly store: TelemetryStore;
  /** A catalogue of published versions (stores/sql/profile-versions.ts) also serves uploading, publishing and pinning. */
  readonly profiles: ProfileSet;
  readonly logger: Logger;
  /** Extra readiness check (e.g. the broker is listening); /readyz fails when it throws. */
  readonly ready?: () => Promise<void>;
  /** Free space where the hub writes (hub/disk-watch.ts): /readyz says why it is not ready, or warns. */
  readonly disk?: () => DiskReport;
  /** When given, GET /v1/ingest/stats shows these counters. */
  readonly ingestStats?: () => IngestStatsSnapshot;
  /** Clock for token expiry; tests pin it. */
  readonly now?: () => number;
  /**
   * Key of the researchers' pseudonyms (kernel/pseudonym.ts). The hub keeps it in its
   * data folder; without one, a random key lives as long as the app, so pseudonyms are
   * stable only until restart (never predictable).
   */
  readonly pseudonymKey?: Buffer;
  /** Where exports are written before they are sent; the system temp folder by default. */
  readonly exportDir?: string;
  /** The alarm engine: when given, the /v1/alarms and /v1/alarm-settings routes serve it. */
  readonly alarms?: AlarmService;
  /** Live readings, events and alarm changes: when given with alarms, GET /v1/live streams them and /ward shows them. */
  readonly live?: LiveFeed;
  /** Ward tablets' one-time pairing codes (api/ward/pairing.ts): when given, arena staff can pair a tablet with a site. */
  readonly boards?: BoardPairings;
  /** Erasure beyond the store and the alarm engine (api/erasure.ts): the register of erasures, and a rewrite of the registry file. */
  readonly erasure?: Pick<ErasureTargets, 'register' | 'compactRegistry'>;
  /** Grafana's consent-filtered bucket (stores/influx/grafana-mirror.ts): granting and withdrawing care.live refresh the participant there, erasure deletes them. */
  readonly grafana?: Pick<GrafanaMirror, 'forget' | 'refresh'>;
  /** Closed trials' retention (hub/retention-schedule.ts): when given, admins set it per trial and list what is due. */
  readonly retention?: TrialRetentionService;
  /** The FHIR API's identifier system (api/config.ts); the default when not given. */
  readonly fhir?: FhirSettings;
  /** Rate, stream and export limits (api/config.ts); the defaults when not given. */
  readonly limits?: ApiLimits;
  /** Certificate and key: the API serves HTTPS only, reloading them when they change (api/https.ts). */
  readonly tls?: TlsFiles;
  /** Conformance runs (conformance/recorder.ts): when given, /v1/conformance-runs starts and serves them. */
  readonly conformance?: ConformanceService;
  /** When given, GET /metrics serves them to API_METRICS_TOKEN or an admin token (api/metrics.ts). */
  readonly metrics?: { readonly metrics: HubMetrics; readonly token: string | undefined };
}
