import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ProfileSchema } from '../../device-profiles/schema.js';
import type { ProfileSet } from '../../device-profiles/load.js';
import { HubError } from '../../kernel/errors.js';
import { ROLES } from '../../kernel/principal.js';
import { profileInvalid, type ProfileCatalog, type ProfileVersionInfo } from '../../device-profiles/versions.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, IdParams, IsoTime, iso, listOf } from '../schemas/common.js';
import { principalOf } from '../auth.js';
import { noteForAudit } from '../audit-trail.js';
import { example } from '../schemas/examples.js';

const anyone = { access: ROLES } as const;
const admin = { access: ['admin'] } as const;
const tags = ['profiles'];
const contract =
  'A device profile is the contract a vendor implements: the topics ({deviceId} is replaced by the device id), the payload format, ' +
  'the JSON Schema of one record, and how fields map to readings and events.';

const Version = z
  .string()
  .regex(/^\d+\.\d+\.\d+$/)
  .describe('A published version of the profile (its `version:`)');
const YamlBody = z
  .object({ yaml: z.string().min(1).max(200_000).describe('The profile as YAML text (README "Publishing a profile without a restart")') })
  .meta(example({ yaml: 'id: flowpatch\nversion: 1.0.0\nfamily: fluid-balance\n...' }));
const VersionDto = z.object({
  profileId: Id,
  version: Version,
  source: z.enum(['folder', 'api']).describe("folder: shipped in the hub's profile folder; api: uploaded"),
  publishedAt: IsoTime,
  latest: z.boolean().describe('The version devices without a pin follow'),
});
const PinDto = z.object({
  deviceId: Id,
  profileId: Id,
  version: Version.nullable().describe('null: the device follows the latest version'),
});

const isCatalog = (profiles: ProfileSet): profiles is ProfileCatalog => 'publish' in profiles;

export const profileRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { profiles } = deps;
  const all = () => [...profiles.decoders.values()].map((d) => d.profile).sort((a, b) => a.id.localeCompare(b.id));

  app.get('/v1/profiles', {
    config: anyone,
    schema: {
      tags,
      summary: 'List device profiles (the latest version of each)',
      description: contract,
      response: { 200: listOf(ProfileSchema), ...problems(401) },
    },
    handler: async () => ({ items: all() }),
  });

  app.get('/v1/profiles/:id', {
    config: anyone,
    schema: {
      tags,
      summary: 'Get a device profile (its latest version)',
      description: contract,
      params: IdParams,
      response: { 200: ProfileSchema, ...problems(400, 401, 404) },
    },
    handler: async (request) => {
      const decoder = profiles.get(request.params.id);
      if (!decoder) throw new HubError('NOT_FOUND', `no device profile "${request.params.id}"`);
      return decoder.profile;
    },
  });

  // A hub whose profiles are fixed at start (tests, tools) serves the routes above only.
  if (isCatalog(profiles)) await app.register(publishing, { deps, catalog: profiles });
};

/** Uploading, publishing and pinning profile versions; every process reads them from the registry (stores/sql/profile-versions.ts). */
const publishing: FastifyPluginAsyncZod<{ deps: ApiDeps; catalog: ProfileCatalog }> = async (app, { deps, catalog }) => {
  const toVersionDto = (v: ProfileVersionInfo): z.infer<typeof VersionDto> => ({
    profileId: v.profileId,
    version: v.version,
    source: v.source,
    publishedAt: iso(v.publishedAt),
    latest: catalog.get(v.profileId)?.profile.version === v.version,
  });
  const pinDto = (deviceId: string, profileId: string): z.infer<typeof PinDto> => {
    const pin = catalog.pinOf(deviceId);
    return { deviceId, profileId, version: pin?.profileId === profileId ? pin.version : null };
  };
  const deviceOf = async (id: string) => {
    const device = await deps.registry.getDevice(id);
    if (!device) throw new HubError('NOT_FOUND', `no device "${id}"`);
    return device;
  };

  app.post('/v1/profiles/validate', {
    config: admin,
    schema: {
      tags,
      summary: 'Check a profile without publishing it',
      description:
        'Answers the profile as the hub reads it (defaults filled in), or 422 PROFILE_INVALID with every problem found, each with its path in the profile.',
      body: YamlBody,
      response: {
        200: z.object({ profile: ProfileSchema, published: z.boolean().describe('This version is already published') }),
        ...problems(400, 401, 403, 422),
      },
    },
    handler: async (request) => {
      const checked = catalog.check(request.body.yaml);
      if (!checked.ok) throw profileInvalid(checked.issues);
      const { profile } = checked.decoder;
      return { profile, published: catalog.version(profile.id, profile.version) !== undefined };
    },
  });

  app.post('/v1/profiles', {
    config: admin,
    schema: {
      tags,
      summary: 'Publish a profile version',
      description:
        'Stores the YAML as a new version of its profile (id and version from the text) and puts it in force without a restart: devices without a pin ' +
        'follow the highest version from their next message (their topics from their next CONNECT). The same text again answers 200; other text under a ' +
        'published version is 409 (publish a change under a new version); an invalid profile is 422 PROFILE_INVALID with every problem and its path.',
      body: YamlBody,
      response: { 201: VersionDto, 200: VersionDto, ...problems(400, 401, 403, 409, 422) },
    },
    handler: async (request, reply) => {
      const { info, created } = await catalog.publish(request.body.yaml, { source: 'api', tokenId: principalOf(request).tokenId });
      noteForAudit(request, { profile: info.profileId, version: info.version, created });
      return reply.status(created ? 201 : 200).send(toVersionDto(info));
    },
  });

  app.get('/v1/profiles/:id/versions', {
    config: anyone,
    schema: { tags, summary: "List a profile's published versions", params: IdParams, response: { 200: listOf(VersionDto), ...problems(400, 401, 404) } },
    handler: async (request) => {
      const versions = await catalog.listVersions(request.params.id);
      if (versions.length === 0) throw new HubError('NOT_FOUND', `no device profile "${request.params.id}"`);
      return { items: versions.map(toVersionDto) };
    },
  });

  app.get('/v1/profiles/:id/versions/:version', {
    config: anyone,
    schema: {
      tags,
      summary: 'Get the YAML of one published version',
      params: z.object({ id: Id, version: Version }),
      response: { 200: z.object({ profileId: Id, version: Version, yaml: z.string() }), ...problems(400, 401, 404) },
    },
    handler: async (request) => {
      const { id, version } = request.params;
      const yaml = await catalog.yamlOf(id, version);
      if (yaml === undefined) throw new HubError('NOT_FOUND', `profile "${id}" has no published version ${version}`);
      return { profileId: id, version, yaml };
    },
  });

  app.get('/v1/devices/:id/profile-pin', {
    config: admin,
    schema: {
      tags,
      summary: "The profile version a device's messages are decoded with",
      params: IdParams,
      response: { 200: PinDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const device = await deviceOf(request.params.id);
      return pinDto(device.id, device.profileId);
    },
  });

  app.put('/v1/devices/:id/profile-pin', {
    config: admin,
    schema: {
      tags,
      summary: 'Pin a device to a published version of its profile, or let it follow the latest',
      description: "In force from the device's next message; its topics from its next CONNECT.",
      params: IdParams,
      body: z.object({ version: Version.nullable() }).meta(example({ version: '1.0.0' })),
      response: { 200: PinDto, ...problems(400, 401, 403, 404) },
    },
    handler: async (request) => {
      const device = await deviceOf(request.params.id);
      await catalog.pin(device.id, device.profileId, request.body.version);
      return pinDto(device.id, device.profileId);
    },
  });
};
