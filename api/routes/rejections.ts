import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { inWindows } from '../../kernel/consent.js';
import type { Principal } from '../../kernel/principal.js';
import type { Registry } from '../../kernel/registry.js';
import { RejectionCodes, type Rejection } from '../../kernel/telemetry.js';
import { principalOf } from '../auth.js';
import { noteForAudit } from '../audit-trail.js';
import type { ApiDeps } from '../deps.js';
import { viewFor } from '../device-access.js';
import { problems } from '../problem.js';
import { listOf } from '../schemas/common.js';
import { RejectionDto, RejectionSummaryDto, RejectionSummaryQuery, RejectionsQuery, toRejectionDto } from '../schemas/telemetry.js';
import { deviceRelease } from '../trial-access.js';

/**
 * Promise 2 across a vendor's whole fleet: every message the hub refused from any of the
 * vendor's devices, with reason and raw payload, and counts per reason. A vendor sees
 * its own devices only; an admin sees every device. Per device: api/routes/device-data.ts.
 */
const readers = { access: ['admin', 'vendor'], release: true } as const;
const tags = ['device data'];

const Counts = z.partialRecord(z.enum(RejectionCodes), z.number().int());
const FleetSummaryDto = z.object({
  total: z.number().int(),
  counts: Counts.describe('Rejections per reason code, all devices together'),
  devices: z.array(RejectionSummaryDto).describe('Per device that has any, by device id'),
  quota: z
    .array(z.object({ deviceId: z.string(), paced: z.number().int(), disconnects: z.number().int() }))
    .optional()
    .describe("The caller's devices most recently over their message or byte quota: messages slowed, connections closed (all-in-one hub, since its start)"),
});

export const rejectionRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry, store } = deps;
  const clock = deps.now ?? Date.now;

  /** undefined = every device (admin); otherwise the vendor's own, possibly none. */
  async function scope(principal: Principal): Promise<string[] | undefined> {
    if (principal.role === 'admin') return undefined;
    if (principal.role !== 'vendor') return [];
    return (await registry.listDevices({ vendorId: principal.vendorId })).map((d) => d.id);
  }

  app.get('/v1/rejections', {
    config: readers,
    schema: {
      tags,
      summary: "Messages the hub refused from the caller's devices, newest first, with the reason and raw payload",
      querystring: RejectionsQuery,
      response: { 200: listOf(RejectionDto), ...problems(400, 401, 403) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const deviceIds = await scope(principal);
      const { from, to, limit } = request.query;
      const rejections = await store.rejections({ ...(deviceIds ? { deviceIds } : {}), from, to, limit });
      noteForAudit(request, { rows: rejections.length });
      return { items: await releasedRejections(registry, principal, rejections, clock()) };
    },
  });

  app.get('/v1/rejections/summary', {
    config: readers,
    schema: {
      tags,
      summary: "Counts of the caller's devices' rejections per reason code",
      querystring: RejectionSummaryQuery,
      response: { 200: FleetSummaryDto, ...problems(400, 401, 403) },
    },
    handler: async (request) => {
      const deviceIds = await scope(principalOf(request));
      const { from, to } = request.query;
      const counts: Partial<Record<string, number>> = {};
      const devices = new Map<string, { deviceId: string; total: number; counts: Partial<Record<string, number>> }>();
      let total = 0;
      for (const c of await store.rejectionCounts({ ...(deviceIds ? { deviceIds } : {}), from, to })) {
        counts[c.code] = (counts[c.code] ?? 0) + c.count;
        total += c.count;
        const d = devices.get(c.deviceId) ?? { deviceId: c.deviceId, total: 0, counts: {} };
        d.counts[c.code] = (d.counts[c.code] ?? 0) + c.count;
        d.total += c.count;
        devices.set(c.deviceId, d);
      }
      noteForAudit(request, { rows: devices.size });
      // Quota steps are decided in the broker; the all-in-one hub hands its counters over.
      const overQuota = deps.ingestStats?.().quota?.devices.filter((d) => deviceIds === undefined || deviceIds.includes(d.deviceId));
      return {
        total,
        counts,
        devices: [...devices.values()].sort((a, b) => a.deviceId.localeCompare(b.deviceId)),
        ...(overQuota ? { quota: overQuota.map(({ deviceId, paced, disconnects }) => ({ deviceId, paced, disconnects })) } : {}),
      };
    },
  });
};

/**
 * A rejection as this caller may read it, newest first. A raw payload is about whoever
 * the device was assigned to when it arrived, so it is released like a point measured
 * then (promise 3): to a vendor only inside that participant's vendor.telemetry windows
 * as of now (withdrawal hides it again), and always when nobody was assigned (device
 * data). Code, path and message are the vendor's feedback (promise 2) and always shown.
 * An admin reads every payload that still exists (erasure removes it).
 */
export async function releasedRejections(
  registry: Pick<Registry, 'listTrials' | 'consent'>,
  principal: Principal,
  rejections: readonly Rejection[],
  now: number,
): Promise<z.infer<typeof RejectionDto>[]> {
  // Consent is read afresh on every request: a withdrawal shows on the very next one.
  const release = await deviceRelease(registry, principal, now);
  const view = viewFor(principal);
  const released = (r: Rejection): boolean =>
    release === undefined || (r.participantId === null ? release.includeDeviceData : inWindows(release.windows, r.participantId, r.receivedAt));
  // The port does not promise an order; newest first is the routes' contract.
  return [...rejections].sort((a, b) => b.receivedAt - a.receivedAt).map((r) => toRejectionDto(r, view, released(r)));
}
