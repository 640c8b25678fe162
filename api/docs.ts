import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { BEARER_SCHEME } from './auth.js';

export const DOCS_PREFIX = '/docs';

/**
 * OpenAPI from the routes' zod schemas, the UI at /docs and the document at /docs/json.
 * Must be registered before the routes, whose onRoute events it collects.
 */
export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'arena-hub API',
        version: '0.1.0',
        description: 'Registry administration, device data for vendors, and device profiles. Errors are RFC 9457 problem details (application/problem+json).',
      },
      components: { securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', description: 'An API token from POST /v1/tokens' } } },
    },
    transform: jsonSchemaTransform,
  });
  // The docs describe routes, not data, so they are public. The plugin cannot take route
  // options, so its routes are declared public here, in their own encapsulated context.
  await app.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, access: 'public' };
    });
    await docs.register(swaggerUi, { routePrefix: DOCS_PREFIX });
  });
}
