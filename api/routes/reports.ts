import { createHash, randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ALARM_SOURCE_ID } from '../../kernel/alarms.js';
import type { Json } from '../../kernel/audit.js';
import type { Principal } from '../../kernel/principal.js';
import { newPseudonymKey, pseudonymiser } from '../../kernel/pseudonym.js';
import type { Trial } from '../../kernel/trials.js';
import { pointIndicatorReader } from '../../reports/point-counts.js';
import { buildReport, type DeviceInfo, type ReportAudience } from '../../reports/compute.js';
import { reportCsv } from '../../reports/csv.js';
import { loadIndicators, type IndicatorRegistry } from '../../reports/definitions.js';
import { REPORT_LANGS, reportHtml } from '../../reports/html.js';
import { noteForAudit } from '../audit-trail.js';
import { principalOf } from '../auth.js';
import { DEFAULT_LIMITS } from '../config.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams } from '../schemas/common.js';
import { visibleTrial } from '../trial-access.js';

const ReportQuery = z.object({
  format: z
    .enum(['json', 'csv', 'html'])
    .default('json')
    .describe('json, csv (one row per indicator × period × week or month × subject) or html (printable, with plots)'),
  granularity: z.enum(['week', 'month']).default('week').describe('Cells by ISO week (Monday, UTC) or calendar month'),
  lang: z.enum(REPORT_LANGS).default('en').describe('Language of the HTML report: en or nb (bokmål)'),
});
// Any: JSON, CSV or HTML built here; the JSON shape is reports/compute.ts's Report.
const Body = z.any().describe('The report');

/**
 * Trial evaluation: result indicators by week or month, baseline against intervention
 * (reports/). Released like a dataset: a researcher bound to the trial gets the figures
 * of participants inside their `research` windows, a vendor only the delivery indicators
 * of its own devices under `vendor.telemetry`, both with small cells suppressed; arena
 * staff get every indicator over the `research` windows, unsuppressed. Each report is
 * recorded as an export with its manifest and audited before it is sent.
 */
export const reportRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; indicators?: IndicatorRegistry }> = async (app, { deps, indicators }) => {
  const { registry, store, profiles } = deps;
  const definitions = indicators ?? loadIndicators();
  const clock = deps.now ?? Date.now;
  const pseudonym = pseudonymiser(deps.pseudonymKey ?? newPseudonymKey());
  const minCellParticipants = (deps.limits?.reports ?? DEFAULT_LIMITS.reports)!.minCellParticipants;

  const audienceOf = (p: Principal): ReportAudience =>
    p.role === 'vendor' ? { role: 'vendor', vendorId: p.vendorId } : p.role === 'researcher' ? { role: 'researcher' } : { role: 'admin' };

  const devicesOf = async (trial: Trial): Promise<Map<string, DeviceInfo>> => {
    const out = new Map<string, DeviceInfo>();
    for (const vendorId of trial.vendorIds) {
      for (const d of await registry.listDevices({ vendorId })) {
        const profile = profiles.get(d.profileId)?.profile;
        if (!profile) continue;
        out.set(d.id, {
          vendorId: d.vendorId,
          profileId: d.profileId,
          model: `${profile.vendor} ${profile.model}`,
          family: profile.family,
          intervalMs: profile.expectedIntervalS * 1000,
        });
      }
    }
    return out;
  };

  app.get('/v1/trials/:id/report', {
    config: { access: ['admin', 'researcher', 'vendor'], release: true },
    schema: {
      tags: ['reports'],
      summary: "A trial's result indicators, baseline against intervention (JSON, CSV or HTML)",
      description:
        'Indicators defined in reports/indicators.yaml (the manifest names its version), counted in the store by week or month for the baseline and the intervention period, with rate ratios and differences and their 95 % intervals. ' +
        'Researchers (bound to the trial) get participants inside their research windows; vendors (taking part) only the delivery indicators of their own devices under vendor.telemetry; ' +
        'cells describing fewer participants than API_REPORT_MIN_CELL (default 5) are suppressed for both. Admins get everything over the research windows, unsuppressed. ' +
        'Every report is audited and recorded as an export: x-export-id names it, its manifest is at /v1/exports/{id}/manifest.',
      params: IdParams,
      querystring: ReportQuery,
      response: {
        200: {
          description: 'The report',
          content: { 'application/json': { schema: Body }, 'text/csv': { schema: Body }, 'text/html': { schema: Body } },
        },
        ...problems(400, 401, 403, 404, 503),
      },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      const trial = await visibleTrial(registry, principal, request.params.id);
      // A store that counts in its own engine (DuckDB's SQL) does; any other is read as a point stream.
      const reader = store.indicatorCounts ? { indicatorCounts: store.indicatorCounts.bind(store) } : pointIndicatorReader(store);
      const { format, granularity, lang } = request.query;
      const audience = audienceOf(principal);
      const scope = audience.role === 'vendor' ? 'vendor.telemetry' : 'research';
      const now = clock();
      const assignments = await registry.listAssignments({ trialId: trial.id });
      // The clinicians' targets live with the alarm settings (a hub without the alarm engine has none); a vendor's report has no use for them.
      const fluidTargets =
        deps.alarms && audience.role !== 'vendor' ? await deps.alarms.fluidTargetHistory([...new Set(assignments.map((a) => a.participantId))]) : [];
      const report = await buildReport(
        {
          trial,
          registry: definitions,
          audience,
          windows: await registry.consent.windows(trial.id, scope, now),
          assignments,
          devices: await devicesOf(trial),
          granularity,
          now,
          minCellParticipants,
          subjectOf: audience.role === 'vendor' ? null : audience.role === 'researcher' ? (pid) => pseudonym(trial.id, 'research', pid) : (pid) => pid,
          alarmSourceId: ALARM_SOURCE_ID,
          fluidTargets,
        },
        reader,
      );
      const exportId = `rep-${randomBytes(12).toString('base64url')}`;
      const body = format === 'csv' ? reportCsv(report) : format === 'html' ? reportHtml(report, lang, { exportId }) : JSON.stringify({ exportId, ...report });
      const sha256 = createHash('sha256').update(body).digest('hex');
      const vendorId = audience.role === 'vendor' ? audience.vendorId : null;
      const manifest: { [key: string]: Json } = {
        kind: 'trial-report',
        exportId,
        trialId: trial.id,
        createdAt: new Date(now).toISOString(),
        audience: audience.role,
        scope,
        vendorId,
        format,
        granularity,
        lang: format === 'html' ? lang : null,
        definitionsVersion: report.definitionsVersion,
        indicators: report.indicators.map((d) => d.id),
        trialStatus: report.trial.status,
        participantsReleased: report.participantsReleased,
        minCellParticipants: report.suppression ? report.minCellParticipants : null,
        suppressedCells: report.suppressedCells,
        rows: report.rows.length,
        sha256,
      };
      await registry.recordExport({ id: exportId, trialId: trial.id, audience: scope, vendorId, tokenId: principal.tokenId, createdAt: now, manifest });
      noteForAudit(request, {
        exportId,
        kind: 'trial-report',
        format,
        audience: audience.role,
        rows: report.rows.length,
        sha256,
        definitionsVersion: report.definitionsVersion,
      });
      const type =
        format === 'csv' ? 'text/csv; charset=utf-8; header=present' : format === 'html' ? 'text/html; charset=utf-8' : 'application/json; charset=utf-8';
      if (format === 'csv') reply.header('content-disposition', `attachment; filename="${trial.id}-${exportId}.csv"`);
      return reply
        .type(type)
        .header('cache-control', 'no-store')
        .header('x-export-id', exportId)
        .header('x-export-sha256', sha256)
        .header('link', `</v1/exports/${exportId}/manifest>; rel="describedby"`)
        .send(body);
    },
  });
};
