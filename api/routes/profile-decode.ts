import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { decideSample, defaultTopic, pointView } from '../../conformance/sample.js';
import type { Profile } from '../../device-profiles/schema.js';
import { decoderFor } from '../../device-profiles/versions.js';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import type { Registry } from '../../kernel/registry.js';
import { RejectionCodes } from '../../kernel/telemetry.js';
import { principalOf } from '../auth.js';
import type { ApiDeps } from '../deps.js';
import { readableDevice } from '../device-access.js';
import { problems } from '../problem.js';
import { BodyInstant, Id, IdParams, IsoTime } from '../schemas/common.js';
import { example } from '../schemas/examples.js';

const tags = ['profiles'];

/**
 * A vendor's own profiles: those of its registered devices, and those whose `vendor:`
 * is its registered name. Anyone else's profile answers like a missing one.
 */
async function ownsProfile(registry: Pick<Registry, 'listDevices' | 'getVendor'>, principal: Principal, profile: Profile): Promise<boolean> {
  if (principal.role === 'admin') return true;
  if (principal.role !== 'vendor') return false;
  const devices = await registry.listDevices({ vendorId: principal.vendorId });
  if (devices.some((d) => d.profileId === profile.id)) return true;
  const vendor = await registry.getVendor(principal.vendorId);
  return vendor !== undefined && vendor.name.trim().toLowerCase() === profile.vendor.trim().toLowerCase();
}

const DecodeBody = z
  .object({
    payload: z
      .union([z.string(), z.record(z.string(), z.unknown()), z.array(z.unknown()), z.number(), z.boolean(), z.null()])
      .describe('The payload as the device sends it: a JSON value, or a string sent as its bytes (so that a broken message can be tried too)'),
    topic: z.string().min(1).max(1024).optional().describe("The topic it is sent on; the profile's first topic for the device when omitted"),
    deviceId: Id.optional().describe("The device that sends it: one of the caller's, decoded with the version it is pinned to; SAMPLE-1 when omitted"),
    receivedAt: BodyInstant.optional().describe('When the hub receives it; now when omitted (device times are judged against it)'),
  })
  .meta(example({ payload: { serial: 'AQ-1', measured_at: '2026-12-07T10:00:00Z', kind: 'weight', value: 72450, unit: 'g' }, deviceId: 'AQ-1' }));

const PointView = z
  .object({
    kind: z.enum(['reading', 'event']),
    name: z.string().describe('Measurement or event of the catalogue'),
    deviceTime: IsoTime,
    clockSkewed: z.boolean(),
    profileVersion: z.string().nullable(),
    value: z.number().optional(),
    unit: z.string().optional().describe('UCUM'),
    alertCode: z.string().nullable().optional().describe('VKP alert code'),
    dispenseCode: z.string().nullable().optional(),
    severity: z.number().int().optional().describe('VKP severity'),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .describe('A point as the hub would store it, without attribution');
const ProblemView = z.object({
  code: z.enum(RejectionCodes),
  path: z.string().describe('JSON path of the offending field, "" for the whole payload'),
  message: z.string(),
});

/** Try a payload: what the hub would store for it, with nothing stored or counted. */
export const profileDecodeRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const clock = deps.now ?? Date.now;
  app.post('/v1/profiles/:id/decode', {
    config: { access: ['admin', 'vendor'] },
    schema: {
      tags,
      summary: 'Try a payload: what the hub would store for it, storing nothing',
      description:
        'Decides the payload exactly as ingest decides a device message (the topic must be one of the profile’s for the device, then the profile decodes it) ' +
        'and answers the points it would store and each rejection with its code, path and message. Nothing is stored, counted or shown to anyone else. ' +
        'A vendor may try its own profiles (those of its devices, or with its name as `vendor:`); any other answers 404 like an unknown one.',
      params: IdParams,
      body: DecodeBody,
      response: {
        200: z.object({
          profileId: Id,
          version: z.string(),
          deviceId: z.string(),
          topic: z.string(),
          storedWhole: z.boolean().describe('Every record became points, nothing would be rejected'),
          stored: z.literal(false).describe('Nothing was stored'),
          points: z.array(PointView),
          rejections: z.array(ProblemView),
        }),
        ...problems(400, 401, 403, 404),
      },
    },
    handler: async (request) => {
      const principal = principalOf(request);
      const { id } = request.params;
      const latest = deps.profiles.get(id);
      if (!latest || !(await ownsProfile(deps.registry, principal, latest.profile))) throw new HubError('NOT_FOUND', `no device profile "${id}"`);
      const { payload, topic, deviceId = 'SAMPLE-1', receivedAt = clock() } = request.body;
      let decoder = latest;
      if (request.body.deviceId !== undefined) {
        const device = await readableDevice(deps.registry, principal, deviceId);
        if (device.profileId === id) decoder = decoderFor(deps.profiles, device.id, id) ?? latest;
      }
      const sample = {
        deviceId,
        topic: topic ?? defaultTopic(decoder, deviceId),
        payload: Buffer.from(typeof payload === 'string' ? payload : JSON.stringify(payload)),
        receivedAt,
      };
      const decision = decideSample(decoder, sample);
      return {
        profileId: id,
        version: decoder.profile.version,
        deviceId,
        topic: sample.topic,
        storedWhole: decision.problems.length === 0,
        stored: false as const,
        points: decision.points.map(pointView) as z.infer<typeof PointView>[],
        rejections: [...decision.problems],
      };
    },
  });
};
