import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HubError } from '../../kernel/errors.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { Id, IdParams, listOf } from '../schemas/common.js';
import { NewRoomBody, NewSiteBody, RoomDto, SiteDto, toRoomDto, toSiteDto } from '../schemas/registry.js';

const admin = { access: ['admin'] } as const;
const tags = ['sites'];

/** Sites (a ward, a demo flat) and their rooms. */
export const siteRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry } = deps;

  app.post('/v1/sites', {
    config: admin,
    schema: { tags, summary: 'Create a site', body: NewSiteBody, response: { 201: SiteDto, ...problems(400, 401, 403, 409) } },
    handler: async (request, reply) => reply.status(201).send(toSiteDto(await registry.createSite(request.body))),
  });

  app.get('/v1/sites', {
    config: admin,
    schema: { tags, summary: 'List sites', response: { 200: listOf(SiteDto), ...problems(401, 403) } },
    handler: async () => ({ items: (await registry.listSites()).map(toSiteDto) }),
  });

  app.get('/v1/sites/:id', {
    config: admin,
    schema: { tags, summary: 'Get a site', params: IdParams, response: { 200: SiteDto, ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      const site = await registry.getSite(request.params.id);
      if (!site) throw new HubError('NOT_FOUND', `no site "${request.params.id}"`);
      return toSiteDto(site);
    },
  });

  const SiteParams = z.object({ siteId: Id });

  app.post('/v1/sites/:siteId/rooms', {
    config: admin,
    schema: {
      tags,
      summary: 'Create a room in a site',
      params: SiteParams,
      body: NewRoomBody,
      response: { 201: RoomDto, ...problems(400, 401, 403, 404, 409) },
    },
    handler: async (request, reply) => reply.status(201).send(toRoomDto(await registry.createRoom({ ...request.body, siteId: request.params.siteId }))),
  });

  app.get('/v1/sites/:siteId/rooms', {
    config: admin,
    schema: { tags, summary: "List a site's rooms", params: SiteParams, response: { 200: listOf(RoomDto), ...problems(400, 401, 403, 404) } },
    handler: async (request) => {
      const { siteId } = request.params;
      if (!(await registry.getSite(siteId))) throw new HubError('NOT_FOUND', `no site "${siteId}"`);
      return { items: (await registry.listRooms(siteId)).map(toRoomDto) };
    },
  });
};
