import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HubError } from '../kernel/errors.js';
import type { Principal, Role } from '../kernel/principal.js';
import type { TokenRegistry } from '../kernel/tokens.js';

/**
 * Who may call a route, declared on the route itself: `config: { access: ['admin'] }`,
 * or `'public'` for probes and docs. A route that declares nothing is refused (deny by
 * default), so forgetting the declaration can only lock a route, never open it.
 */
export type Access = 'public' | readonly Role[];

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** Set by the auth hook before any handler of a non-public route runs. */
    principal: Principal | null;
  }
}

export const BEARER_SCHEME = 'bearerAuth';

// RFC 6750 b64token.
const BEARER = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i;

export interface AuthOptions {
  readonly verifyToken: TokenRegistry['verifyToken'];
  readonly now?: () => number;
}

/** The principal of an authenticated route; a handler on a public route has none. */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new HubError('UNAUTHENTICATED');
  return request.principal;
}

/** The bearer token a request carries (RFC 6750 §2.1), if well-formed. */
export const bearerOf = (request: FastifyRequest): string | undefined => BEARER.exec(request.headers.authorization ?? '')?.[1];

export const auth = fp(
  async (app: FastifyInstance, opts: AuthOptions) => {
    const now = opts.now ?? Date.now;
    app.decorateRequest('principal', null);

    // onRequest: refuse before the body is read or validated.
    app.addHook('onRequest', async (request, reply) => {
      if (request.is404) return; // the not-found handler answers; there is nothing to protect
      const access = request.routeOptions.config.access;
      if (access === 'public') return;
      if (access === undefined) {
        request.log.error({ url: request.routeOptions.url }, 'route declares no access policy; refused');
        throw new HubError('FORBIDDEN', 'this route is not open to any principal');
      }
      const token = bearerOf(request);
      const principal = token ? await opts.verifyToken(token, now()) : undefined;
      if (!principal) {
        reply.header('www-authenticate', `Bearer realm="arena-hub"`);
        throw new HubError('UNAUTHENTICATED', token ? 'the bearer token is unknown, expired or revoked' : 'send Authorization: Bearer <token>');
      }
      // Known before the role check, so a refusal is recorded with who was refused (api/audit-trail.ts).
      request.principal = principal;
      if (!access.includes(principal.role)) throw new HubError('FORBIDDEN', `role ${principal.role} may not use this route`);
    });

    // The OpenAPI document shows the same declaration the hook enforces.
    app.addHook('onRoute', (route) => {
      const access = route.config?.access;
      if (access === undefined || access === 'public' || !route.schema) return;
      const roles = `Roles: ${access.join(', ')}.`;
      route.schema = {
        ...route.schema,
        security: [{ [BEARER_SCHEME]: [] }],
        description: route.schema.description ? `${route.schema.description}\n\n${roles}` : roles,
      };
    });
  },
  { name: 'arena-auth' },
);
