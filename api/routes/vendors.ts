import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { listOf } from '../schemas/common.js';
import { NewVendorBody, VendorDto, toVendorDto } from '../schemas/registry.js';

const admin = { access: ['admin'] } as const;
const tags = ['vendors'];

export const vendorRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry } = deps;

  app.post('/v1/vendors', {
    config: admin,
    schema: { tags, summary: 'Register a vendor', body: NewVendorBody, response: { 201: VendorDto, ...problems(400, 401, 403, 409) } },
    handler: async (request, reply) => reply.status(201).send(toVendorDto(await registry.createVendor(request.body))),
  });

  app.get('/v1/vendors', {
    config: admin,
    schema: { tags, summary: 'List vendors', response: { 200: listOf(VendorDto), ...problems(401, 403) } },
    handler: async () => ({ items: (await registry.listVendors()).map(toVendorDto) }),
  });
};
