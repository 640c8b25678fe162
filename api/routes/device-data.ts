import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import type { Point } from '../../kernel/telemetry.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { readableDevice, viewFor } from '../device-access.js';
import { noteForAudit } from '../audit-trail.js';
import { deviceRelease } from '../trial-access.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';
import {
  EventDto,
  PointsQuery,
  ReadingDto,
  RejectionDto,
  RejectionSummaryDto,
  RejectionSummaryQuery,
  RejectionsQuery,
  toEventDto,
  toReadingDto,
} from '../schemas/telemetry.js';
import { releasedRejections } from './rejections.js';

/**
 * Vendors read their own devices here; a vendor token sees no site, room, trial or
 * participant, and points about a participant only under their vendor.telemetry consent
 * (api/trial-access.ts deviceRelease). Every call is a data release and is audited.
 */
const readers = { access: ['admin', 'vendor'], release: true } as const;
const tags = ['device data'];
const notYours = 'A device of another vendor answers 404, like a missing one.';

async function collect(points: AsyncIterable<Point>): Promise<Point[]> {
  const out: Point[] = [];
  for await (const p of points) out.push(p);
  return out;
}

export const deviceDataRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry, store } = deps;

  const clock = deps.now ?? Date.now;
  const pointsOf = async (request: FastifyRequest, kind: Point['kind'], deviceId: string, q: z.infer<typeof PointsQuery>): Promise<Point[]> => {
    // Consent is read afresh on every request: a withdrawal shows on the very next one.
    const release = await deviceRelease(registry, principalOf(request), clock());
    const points = await collect(
      store.points({
        deviceIds: [deviceId],
        kind,
        ...(q.name !== undefined ? { names: [q.name] } : {}),
        from: q.from,
        to: q.to,
        ...(release ? { release } : {}),
        order: 'desc',
        limit: q.limit,
      }),
    );
    noteForAudit(request, { rows: points.length });
    return points;
  };

  app.get('/v1/devices/:id/readings', {
    config: readers,
    schema: {
      tags,
      summary: "A device's readings, newest first",
      description: notYours,
      params: IdParams,
      querystring: PointsQuery,
      response: { 200: listOf(ReadingDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const device = await readableDevice(registry, principal, request.params.id);
      const view = viewFor(principal);
      const points = await pointsOf(request, 'reading', device.id, request.query);
      return { items: points.flatMap((p) => (p.kind === 'reading' ? [toReadingDto(p, view)] : [])) };
    },
  });

  app.get('/v1/devices/:id/events', {
    config: readers,
    schema: {
      tags,
      summary: "A device's events, newest first",
      description: notYours,
      params: IdParams,
      querystring: PointsQuery,
      response: { 200: listOf(EventDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const device = await readableDevice(registry, principal, request.params.id);
      const view = viewFor(principal);
      const points = await pointsOf(request, 'event', device.id, request.query);
      return { items: points.flatMap((p) => (p.kind === 'event' ? [toEventDto(p, view)] : [])) };
    },
  });

  app.get('/v1/devices/:id/rejections', {
    config: readers,
    schema: {
      tags,
      summary: 'Messages of a device the hub refused, newest first, with the reason',
      description: notYours,
      params: IdParams,
      querystring: RejectionsQuery,
      response: { 200: listOf(RejectionDto), ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const device = await readableDevice(registry, principal, request.params.id);
      const { from, to, limit } = request.query;
      const rejections = await store.rejections({ deviceIds: [device.id], from, to, limit });
      noteForAudit(request, { rows: rejections.length });
      return { items: await releasedRejections(registry, principal, rejections, clock()) };
    },
  });

  app.get('/v1/devices/:id/rejections/summary', {
    config: readers,
    schema: {
      tags,
      summary: "Counts of a device's rejections per reason code",
      description: notYours,
      params: IdParams,
      querystring: RejectionSummaryQuery,
      response: { 200: RejectionSummaryDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const device = await readableDevice(registry, principalOf(request), request.params.id);
      const { from, to } = request.query;
      const counts: Partial<Record<string, number>> = {};
      let total = 0;
      for (const c of await store.rejectionCounts({ deviceIds: [device.id], from, to })) {
        if (c.deviceId !== device.id) continue;
        counts[c.code] = (counts[c.code] ?? 0) + c.count;
        total += c.count;
      }
      return { deviceId: device.id, total, counts };
    },
  });
};
