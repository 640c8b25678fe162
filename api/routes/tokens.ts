import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { listOf } from '../schemas/common.js';
import { NewTokenBody, TokenDto, TokenIdParams, toTokenDto } from '../schemas/registry.js';

const admin = { access: ['admin'] } as const;
const tags = ['tokens'];

/** API tokens. A token value is returned once, at issue; listing shows metadata only. */
export const tokenRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { registry } = deps;

  app.post('/v1/tokens', {
    config: admin,
    schema: {
      tags,
      summary: 'Issue an API token',
      description: 'The token value is in this response only; the hub keeps a digest. Each role takes exactly its own binding.',
      body: NewTokenBody,
      response: { 201: TokenDto.extend({ token: z.string().describe('The bearer token. Shown only in this response.') }), ...problems(400, 401, 403) },
    },
    handler: async (request, reply) => {
      const { id, token } = await registry.issueToken(request.body);
      const info = (await registry.listTokens()).find((t) => t.id === id);
      reply.header('cache-control', 'no-store');
      return reply.status(201).send({ ...toTokenDto(info!), token });
    },
  });

  app.get('/v1/tokens', {
    config: admin,
    schema: { tags, summary: 'List tokens (never their values)', response: { 200: listOf(TokenDto), ...problems(401, 403) } },
    handler: async () => ({ items: (await registry.listTokens()).map(toTokenDto) }),
  });

  app.delete('/v1/tokens/:id', {
    config: admin,
    schema: {
      tags,
      summary: 'Revoke a token',
      description: 'Takes effect at once. Revoking an already revoked token succeeds.',
      params: TokenIdParams,
      response: { 204: z.undefined().describe('Revoked'), ...problems(401, 403, 404) },
    },
    handler: async (request, reply) => {
      await registry.revokeToken(request.params.id);
      return reply.status(204).send();
    },
  });
};
