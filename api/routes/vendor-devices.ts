import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decoderFor } from '../../device-profiles/versions.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, IsoTime, iso, listOf } from '../schemas/common.js';

const VendorDeviceDto = z.object({
  id: Id,
  label: z.string(),
  profileId: Id,
  profileVersion: z.string().nullable().describe('The profile version that decodes its messages now'),
  active: z.boolean(),
  connected: z.boolean().nullable().describe("Connected to the hub's broker now; null where the broker runs in another process"),
  connectedSince: IsoTime.nullable(),
  keepaliveS: z.number().int().nullable().describe('The keepalive of its current connection'),
  will: z.boolean().nullable().describe('Its current connection declared a last will'),
  lastSeenAt: IsoTime.nullable().describe('When the hub last heard from it'),
  offlineSince: IsoTime.nullable().describe('Set while the hub counts it offline (silence or its will)'),
});

/**
 * A vendor's devices as its engineers follow them (the /vendor page): connection, keepalive
 * and will, last seen, offline. Nothing about whom they measure; readings such as the
 * battery level come from the device data routes, under the participant's consent.
 */
export const vendorDeviceRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/v1/vendor/devices', {
    config: { access: ['admin', 'vendor'] },
    schema: {
      tags: ['devices'],
      summary: "The caller's devices with their connection and liveness (admin: every device)",
      response: { 200: listOf(VendorDeviceDto), ...problems(401, 403) },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const devices = await deps.registry.listDevices(principal.role === 'vendor' ? { vendorId: principal.vendorId } : {});
      const health = new Map((deps.alarms?.deviceHealth(devices.map((d) => d.id)) ?? []).map((h) => [h.deviceId, h]));
      return {
        items: devices.map((d) => {
          const session = deps.conformance?.session(d.id);
          const h = health.get(d.id);
          return {
            id: d.id,
            label: d.label,
            profileId: d.profileId,
            profileVersion: decoderFor(deps.profiles, d.id, d.profileId)?.profile.version ?? null,
            active: d.active,
            connected: deps.conformance ? session !== undefined : null,
            connectedSince: session ? iso(session.at) : null,
            keepaliveS: session?.keepaliveS ?? null,
            will: session ? session.will !== null : null,
            lastSeenAt: h?.lastSeenAt == null ? null : iso(h.lastSeenAt),
            offlineSince: h?.offlineSince == null ? null : iso(h.offlineSince),
          };
        }),
      };
    },
  });
};
