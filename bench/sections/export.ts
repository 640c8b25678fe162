import { join } from 'node:path';
import { DATASET_ROUTE, prepareTrial, timeExport, type ExportTiming, type TrialPlan } from '../dataset-api.js';
import { startHubChild, type HubChild } from '../procs.js';
import { participantIdOf, seededSpan, storeOp, type RowsReply, type StoreOp } from '../store-ops.js';
import { notBuilt, type Row, type Section, type Target } from './types.js';

const ROWS_PER_S: Target = { better: 'higher', goal: 1_000_000, limit: 500_000, on: 'value', unit: 'rows/s' };
const TRIAL = 'BENCH-TRIAL';
const PARTICIPANTS = 50;
const DAY = 86_400_000;

/**
 * 3. Export of a large trial. The readings are seeded straight into a fresh telemetry
 * file before a hub starts on it; then, when the hub has the dataset route, the trial
 * is registered through the API and a researcher downloads it as CSV and as Parquet.
 * Beside it, DuckDB's own COPY ... TO of comparable columns and the same order: what
 * the engine can do. Without the route, store.points() streaming the trial stands in.
 * Each store measurement runs in a process of its own, so its peak RSS is its own.
 */
export const exportSection: Section = {
  id: 'export',
  title: 'Export',
  async run(ctx, config) {
    // The hub of the earlier sections keeps running; what it still does must not slow this one.
    const waited = await ctx.hubQuiet();
    const dir = ctx.dir('export');
    const db = join(dir, 'telemetry.duckdb');
    const once = (request: StoreOp) => storeOp<RowsReply>(request, config.baseEnv);
    // A year back, whole days: consents cannot be granted in the future.
    const from = Math.floor((Date.now() - 365 * DAY) / DAY) * DAY;
    const seed = await once({ op: 'seed', path: db, rows: config.exportRows, trialId: TRIAL, participants: PARTICIPANTS, from });
    const n = seed.rows;
    const plan: TrialPlan = {
      trialId: TRIAL,
      siteId: 'bench-site',
      vendorId: 'bench-vendor',
      participantIds: Array.from({ length: PARTICIPANTS }, (_, i) => participantIdOf(i)),
      ...seededSpan(n, from),
    };
    const api = await exportViaApi(dir, ctx.runDir, config.baseEnv, plan);

    const copy = (format: 'csv' | 'parquet') => once({ op: 'copy', path: db, trialId: TRIAL, format, columns: 'dataset', out: join(dir, `trial.${format}`) });
    const engine = { CSV: await copy('csv'), Parquet: await copy('parquet') };
    const rate = (r: RowsReply) => r.rows / r.seconds;
    const size = (r: { bytes?: number }) => `${((r.bytes ?? 0) / 1e6).toFixed(0)} MB`;
    const readings = `${n.toLocaleString('en-US')} readings`;

    const rows: Row[] = [];
    for (const format of ['CSV', 'Parquet'] as const) {
      const e = engine[format];
      const t = api.timings?.[format];
      rows.push(
        t && 'rows' in t
          ? {
              section: 'export',
              figure: `${format} via GET ${api.route}, ${readings}`,
              value: t.rowsPerS,
              unit: 'rows/s',
              baseline: { label: `DuckDB COPY ${format}`, value: rate(e) },
              target: ROWS_PER_S,
              note: `${t.rows.toLocaleString('en-US')} rows, ${size(t)} in ${t.seconds.toFixed(1)} s (first byte after ${t.firstByteSeconds.toFixed(1)} s); hub peak RSS ${t.hubPeakRssMb.toFixed(0)} MB during it${waited >= 1 ? `; started after the hub of the earlier sections had gone quiet (${waited.toFixed(0)} s)` : ''}`,
            }
          : notBuilt('export', `${format} via API`, 'rows/s', t && 'why' in t ? t.why : api.why, ROWS_PER_S),
      );
    }
    for (const format of ['CSV', 'Parquet'] as const) {
      const e = engine[format];
      rows.push({
        section: 'export',
        figure: `DuckDB COPY TO ${format}, 8 dataset columns, same order`,
        value: rate(e),
        unit: 'rows/s',
        note: `peak RSS ${e.peakRssMb?.toFixed(0) ?? '?'} MB, ${size(e)}`,
      });
    }
    let points: RowsReply | undefined;
    if (!api.timings) {
      points = await once({ op: 'points', path: db, trialId: TRIAL });
      rows.push({
        section: 'export',
        figure: 'store.points() stream of the trial, ordered (stands in for the API)',
        value: rate(points),
        unit: 'rows/s',
        baseline: { label: 'DuckDB COPY CSV', value: rate(engine.CSV) },
        target: ROWS_PER_S,
        note: `${readings} in ${points.seconds.toFixed(1)} s, peak RSS ${points.peakRssMb?.toFixed(0) ?? '?'} MB`,
      });
    }
    return { rows, details: { seed, plan, api, engine, points } };
  },
};

interface ApiExport {
  readonly why: string;
  readonly route?: string;
  readonly timings?: Record<'CSV' | 'Parquet', ExportTiming | { why: string }>;
}

/** A hub on the seeded folder: finds the dataset route, registers the trial, downloads. */
async function exportViaApi(dataDir: string, runDir: string, baseEnv: Readonly<Record<string, string | undefined>>, plan: TrialPlan): Promise<ApiExport> {
  let hub: HubChild | undefined;
  try {
    hub = await startHubChild({ dataDir, baseEnv, logFile: join(runDir, 'export-hub.log') });
    const doc = await hub.api<{ paths?: Record<string, unknown> }>('/docs/json');
    const route = Object.keys(doc.body?.paths ?? {}).find((p) => DATASET_ROUTE.test(p));
    if (!route) return { why: 'not built yet' };
    const prepared = await prepareTrial(hub, plan);
    if ('why' in prepared) return { route, why: `could not register the trial: ${prepared.why}` };
    return {
      route,
      why: '',
      timings: {
        CSV: await timeExport(hub, route, plan.trialId, prepared.token, 'csv'),
        Parquet: await timeExport(hub, route, plan.trialId, prepared.token, 'parquet'),
      },
    };
  } catch (e) {
    return { why: `hub on the export data failed: ${(e as Error).message}` };
  } finally {
    await hub?.stop();
  }
}
