import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { reportHtml } from '../../conformance/report-html.js';
import { MAX_DURATION_S } from '../../conformance/recorder.js';
import type { ConformanceRun, ConformanceService } from '../../kernel/conformance.js';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import { principalOf } from '../auth.js';
import { noteForAudit } from '../audit-trail.js';
import type { ApiDeps } from '../deps.js';
import { readableDevice } from '../device-access.js';
import { problems } from '../problem.js';
import { Id, IdParams, IsoTime, iso, listOf } from '../schemas/common.js';
import { example } from '../schemas/examples.js';

const access = { access: ['admin', 'vendor'] } as const;
const tags = ['conformance'];

const Check = z.object({
  id: z.string().describe('Stable id of the check, e.g. last-will'),
  title: z.string(),
  rule: z.string().describe('The pass/fail rule'),
  outcome: z.enum(['pass', 'fail', 'not-applicable']),
  finding: z.string(),
  evidence: z.record(z.string(), z.unknown()),
});
const Report = z.object({
  deviceId: z.string(),
  profileId: z.string(),
  profileVersion: z.string(),
  hubVersion: z.string(),
  from: IsoTime,
  to: IsoTime,
  expectedIntervalS: z.number(),
  skewMs: z.number(),
  summary: z.record(z.string(), z.number()),
  checks: z.array(Check),
  series: z.object({ arrivals: z.array(IsoTime), clockOffsetsMs: z.array(z.number()) }),
});
const RunDto = z.object({
  id: z.string(),
  deviceId: Id,
  profileId: Id,
  profileVersion: z.string(),
  hubVersion: z.string(),
  status: z.enum(['running', 'passed', 'failed', 'interrupted']).describe('passed: no check failed; interrupted: the hub stopped before the run ended'),
  startedAt: IsoTime,
  endsAt: IsoTime,
  endedAt: IsoTime.nullable(),
  note: z.string().nullable(),
  report: Report.nullable().describe('null while running, and for a run an unclean stop cut short'),
  links: z.object({ self: z.string(), html: z.string() }),
});

const toDto = (run: ConformanceRun): z.infer<typeof RunDto> => ({
  id: run.id,
  deviceId: run.deviceId,
  profileId: run.profileId,
  profileVersion: run.profileVersion,
  hubVersion: run.hubVersion,
  status: run.status,
  startedAt: iso(run.startedAt),
  endsAt: iso(run.endsAt),
  endedAt: run.endedAt === null ? null : iso(run.endedAt),
  note: run.note,
  report: run.report && {
    ...run.report,
    from: iso(run.report.from),
    to: iso(run.report.to),
    series: { arrivals: run.report.series.arrivals.map(iso), clockOffsetsMs: [...run.report.series.clockOffsetsMs] },
    checks: [...run.report.checks],
  },
  links: { self: `/v1/conformance-runs/${run.id}`, html: `/v1/conformance-runs/${run.id}/report.html` },
});

/**
 * Conformance runs (promise 7): arena staff, or a vendor for its own devices, start a run;
 * the hub watches the device's real traffic for the time asked and stores a report. A run
 * of another vendor's device answers 404 like a missing one.
 */
export const conformanceRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps; conformance: ConformanceService }> = async (app, { deps, conformance }) => {
  const { registry } = deps;

  async function visibleRun(principal: Principal, id: string): Promise<ConformanceRun> {
    const run = await conformance.get(id);
    if (!run || (principal.role !== 'admin' && !(principal.role === 'vendor' && run.vendorId === principal.vendorId))) {
      throw new HubError('NOT_FOUND', `no conformance run "${id}"`);
    }
    return run;
  }

  app.post('/v1/conformance-runs', {
    config: access,
    schema: {
      tags,
      summary: 'Start a conformance run of a device',
      description:
        "For durationS seconds the hub watches the device's real traffic (sessions, publishes, committed messages and rejections), then judges it against its profile " +
        'and stores the report: each check with its rule, outcome and evidence. One run per device at a time (409 otherwise). A vendor starts runs of its own devices.',
      body: z
        .object({ deviceId: Id, durationS: z.number().int().min(1).max(MAX_DURATION_S).describe('How long to watch, in seconds') })
        .meta(example({ deviceId: 'AQ-3001', durationS: 3600 })),
      response: { 201: RunDto, ...problems(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) => {
      const principal = principalOf(request);
      await readableDevice(registry, principal, request.body.deviceId);
      const run = await conformance.start({ deviceId: request.body.deviceId, durationS: request.body.durationS, startedBy: principal.tokenId });
      noteForAudit(request, { run: run.id, device: run.deviceId });
      return reply.status(201).send(toDto(run));
    },
  });

  app.get('/v1/conformance-runs', {
    config: access,
    schema: {
      tags,
      summary: "Conformance runs of the caller's devices, newest first",
      querystring: z.object({ deviceId: Id.optional(), limit: z.coerce.number().int().min(1).max(500).default(50) }),
      response: { 200: listOf(RunDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const { deviceId, limit } = request.query;
      let deviceIds: string[] | undefined;
      if (deviceId !== undefined) deviceIds = [(await readableDevice(registry, principal, deviceId)).id];
      else if (principal.role === 'vendor') deviceIds = (await registry.listDevices({ vendorId: principal.vendorId })).map((d) => d.id);
      return { items: (await conformance.list({ ...(deviceIds ? { deviceIds } : {}), limit })).map(toDto) };
    },
  });

  app.get('/v1/conformance-runs/:id', {
    config: access,
    schema: { tags, summary: 'A conformance run and its report (JSON)', params: IdParams, response: { 200: RunDto, ...problems(400, 401, 403, 404) } },
    handler: async (request) => toDto(await visibleRun(principalOf(request), request.params.id)),
  });

  app.get('/v1/conformance-runs/:id/report.html', {
    config: access,
    schema: {
      tags,
      summary: 'A conformance run as a printable HTML page',
      description: 'Self-contained (plots as inline SVG, no scripts): the device, the profile version, the hub version, each check with its rule and evidence.',
      params: IdParams,
      response: { 200: { description: 'The report', content: { 'text/html': { schema: z.string() } } }, ...problems(400, 401, 403, 404) },
    },
    handler: async (request, reply) => {
      const run = await visibleRun(principalOf(request), request.params.id);
      return reply
        .type('text/html; charset=utf-8')
        .header('cache-control', 'no-store')
        .header('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
        .send(reportHtml(run));
    },
  });
};
