import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { ProfileSchema } from '../../device-profiles/schema.js';
import { HubError } from '../../kernel/errors.js';
import { ROLES } from '../../kernel/principal.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { IdParams, listOf } from '../schemas/common.js';

const anyone = { access: ROLES } as const;
const tags = ['profiles'];
const contract =
  'A device profile is the contract a vendor implements: the topics ({deviceId} is replaced by the device id), the payload format, ' +
  'the JSON Schema of one record, and how fields map to readings and events.';

export const profileRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const all = () => [...deps.profiles.decoders.values()].map((d) => d.profile).sort((a, b) => a.id.localeCompare(b.id));

  app.get('/v1/profiles', {
    config: anyone,
    schema: { tags, summary: 'List device profiles', description: contract, response: { 200: listOf(ProfileSchema), ...problems(401) } },
    handler: async () => ({ items: all() }),
  });

  app.get('/v1/profiles/:id', {
    config: anyone,
    schema: { tags, summary: 'Get a device profile', description: contract, params: IdParams, response: { 200: ProfileSchema, ...problems(400, 401, 404) } },
    handler: async (request) => {
      const decoder = deps.profiles.get(request.params.id);
      if (!decoder) throw new HubError('NOT_FOUND', `no device profile "${request.params.id}"`);
      return decoder.profile;
    },
  });
};
