import type { Json } from '../kernel/audit.js';
import type { Trial } from '../kernel/trials.js';
import type { Codebook } from './codebook.js';
import { denominatorsJson, type Denominators } from './denominators.js';
import type { DatasetAudience } from './columns.js';
import type { WrittenExport } from './export.js';
import { MEDIA_TYPES, type DatasetFormat } from './formats.js';

export interface DatasetFilters {
  readonly from: number;
  readonly to: number;
  readonly family?: string;
  readonly name?: string;
  readonly deviceId?: string;
  readonly kind?: 'reading' | 'event';
}

const iso = (ms: number): string => new Date(ms).toISOString();

export const CONSENT_RULE_TEXT =
  'A row about a participant is included only if the participant held the audience scope when it was measured, ' +
  'inside the trial period, and had not withdrawn that consent by the time of this export. A withdrawn consent ' +
  "excludes all of that participant's rows for this audience, also those measured before the withdrawal. " +
  'Erased participants have no rows.';

/**
 * Everything needed to know what a dataset is without asking anyone: which trial, which
 * filters, under which consent rule, from which profile versions, how many rows, and the
 * SHA-256 of exactly the bytes sent.
 */
export function buildManifest(m: {
  exportId: string;
  createdAt: number;
  trial: Trial;
  audience: DatasetAudience;
  vendorId: string | null;
  format: DatasetFormat;
  filters: DatasetFilters;
  includeDeviceData: boolean;
  participantsReleased: number;
  written: WrittenExport;
  codebook: Codebook;
  codebookUrl: string;
  denominators?: Denominators;
}): { [key: string]: Json } {
  const { trial, written, filters } = m;
  return {
    exportId: m.exportId,
    createdAt: iso(m.createdAt),
    trial: {
      id: trial.id,
      name: trial.name,
      siteId: trial.siteId,
      protocolRef: trial.protocolRef,
      status: trial.status,
      period: { from: iso(trial.period.from), to: iso(trial.period.to) },
      baseline: trial.baseline && { from: iso(trial.baseline.from), to: iso(trial.baseline.to) },
      interventionFrom: trial.interventionFrom === null ? null : iso(trial.interventionFrom),
    },
    audience: m.audience,
    ...(m.vendorId === null ? {} : { vendorId: m.vendorId }),
    format: m.format,
    mediaType: MEDIA_TYPES[m.format],
    filters: {
      from: iso(filters.from),
      to: iso(filters.to),
      family: filters.family ?? null,
      name: filters.name ?? null,
      deviceId: filters.deviceId ?? null,
      kind: filters.kind ?? null,
    },
    consentRule: {
      scope: m.audience,
      evaluatedAt: iso(m.createdAt),
      text: CONSENT_RULE_TEXT,
      participantsWithConsent: m.participantsReleased,
      deviceDataIncluded: m.includeDeviceData,
    },
    pseudonyms:
      m.audience === 'research'
        ? 'HMAC-SHA256(hub key, trial | audience | participant), first 80 bits, hex: stable within this trial, unlinkable to other trials and audiences'
        : 'none: vendor datasets carry no participant reference',
    profiles: m.codebook.profiles.map((p) => ({ ...p })),
    rows: { ...written.rows },
    data: { bytes: written.bytes, sha256: written.sha256 },
    codebook: m.codebookUrl,
    ...(m.denominators ? { denominators: denominatorsJson(m.denominators) } : {}),
  };
}
