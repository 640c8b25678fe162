import { performance } from 'node:perf_hooks';
import type { HubChild } from './procs.js';
import { RssSampler } from './proc-stats.js';

/**
 * The trial export through the hub's API, as a researcher gets it. The points are
 * seeded straight into the telemetry file (children/store-worker.ts); this side
 * registers what the API needs to release them: vendor, site, the trial, its
 * participants with a `research` consent, and a researcher token. This is the one place
 * that knows those routes, so adjust here when they change.
 */
export interface TrialPlan {
  readonly trialId: string;
  readonly siteId: string;
  readonly vendorId: string;
  readonly participantIds: readonly string[];
  /** Epoch ms: the trial and every consent start before the first seeded point. */
  readonly from: number;
  readonly to: number;
}

export const DATASET_ROUTE = /^\/v1\/trials\/\{[^}]+\}\/dataset$/;

export interface ExportTiming {
  readonly rows: number;
  readonly rowsPerS: number;
  readonly seconds: number;
  /** Until the response headers: the export is written, hashed and audited before the first byte. */
  readonly firstByteSeconds: number;
  readonly bytes: number;
  readonly hubPeakRssMb: number;
}

type Step = [method: string, path: string, body: unknown];

/** Registers the trial; resolves with a researcher token or the step that failed. */
export async function prepareTrial(hub: HubChild, plan: TrialPlan): Promise<{ token: string } | { why: string }> {
  const day = 86_400_000;
  const steps: Step[] = [
    ['POST', '/v1/vendors', { id: plan.vendorId, name: 'Bench vendor' }],
    ['POST', '/v1/sites', { id: plan.siteId, name: 'Bench ward', kind: 'patient-room' }],
    [
      'POST',
      '/v1/trials',
      {
        id: plan.trialId,
        name: 'Bench trial',
        siteId: plan.siteId,
        vendorIds: [plan.vendorId],
        protocolRef: 'BENCH',
        period: { from: plan.from - day, to: plan.to },
        researchDeviceData: false,
      },
    ],
    ...plan.participantIds.map((id): Step => ['POST', `/v1/trials/${plan.trialId}/participants`, { id }]),
    ...plan.participantIds.map(
      (id): Step => ['POST', `/v1/participants/${id}/consents`, { scope: 'research', grantedAt: plan.from - day, formVersion: 'bench' }],
    ),
  ];
  for (const [method, path, body] of steps) {
    const r = await hub.api<{ title?: string; detail?: string }>(path, { method, body });
    if (r.status >= 300) return { why: `${method} ${path} answered ${r.status}${r.body?.detail ? `: ${r.body.detail}` : ''}` };
  }
  const t = await hub.api<{ token?: string }>('/v1/tokens', { body: { role: 'researcher', trialIds: [plan.trialId], label: 'bench researcher' } });
  return t.status === 201 && t.body?.token ? { token: t.body.token } : { why: `POST /v1/tokens answered ${t.status}` };
}

/** Downloads the whole dataset; rows from the x-export-rows header (Parquet cannot be counted by lines). */
export async function timeExport(
  hub: HubChild,
  route: string,
  trialId: string,
  token: string,
  format: 'csv' | 'parquet',
): Promise<ExportTiming | { why: string }> {
  const url = `http://127.0.0.1:${hub.apiPort}${route.replace(/\{[^}]+\}/, trialId)}?format=${format}`;
  const rss = new RssSampler(hub.pid).start();
  const t0 = performance.now();
  const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  const firstByteSeconds = (performance.now() - t0) / 1000;
  let bytes = 0;
  if (res.body) for await (const chunk of res.body as AsyncIterable<Uint8Array>) bytes += chunk.length;
  const seconds = (performance.now() - t0) / 1000;
  const { peakMb } = rss.stop();
  if (res.status !== 200) return { why: `GET ${route} ?format=${format} answered ${res.status}` };
  const rows = Number(res.headers.get('x-export-rows') ?? NaN);
  return { rows, rowsPerS: rows / seconds, seconds, firstByteSeconds, bytes, hubPeakRssMb: peakMb };
}
