import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { HubError, type ErrorCode } from '../kernel/errors.js';
import type { ApiLimits } from './config.js';

/**
 * Routes never limited, with everything under them: probes and the ward's page and files.
 * An orchestrator or a ward screen must not be locked out by someone else's flood.
 */
export const UNLIMITED_ROUTES: readonly string[] = ['/healthz', '/readyz', '/ward'];

const EXEMPT = (request: FastifyRequest): boolean => {
  const url = request.routeOptions.url ?? '';
  return UNLIMITED_ROUTES.some((r) => url === r || url.startsWith(`${r}/`));
};

/** A refusal with the seconds to wait (RFC 9110 §10.2.3); api/problem.ts renders it as problem+json. */
export function refuseFor(reply: FastifyReply, seconds: number, code: ErrorCode, detail: string): HubError {
  reply.header('retry-after', String(Math.max(1, Math.ceil(seconds))));
  return new HubError(code, detail);
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

function refusal(reply: FastifyReply, r: Awaited<ReturnType<Limiter>>, who: string): HubError | undefined {
  if (r.isAllowed || !r.isExceeded) return undefined;
  return refuseFor(reply, r.ttlInSeconds, 'RATE_LIMITED', `more than ${r.max} requests in ${r.timeWindow / 1000} s from this ${who}`);
}

/**
 * Two fixed-window limits on @fastify/rate-limit's counters. Per token, once api/auth.ts
 * has named the principal, so one caller cannot starve another. Per remote address for
 * what carries no valid token (refused or public): counted when answered, checked before
 * the token is looked up, so a flood of bad tokens is refused without lookups while the
 * callers with valid tokens behind the same address (a proxy) never use up its budget.
 * Registered as `limitsBeforeAuth` and `limitsAfterAuth` around auth.
 */
export const limitsBeforeAuth = fp(
  async (app: FastifyInstance, opts: { limits: ApiLimits }) => {
    await app.register(rateLimit, { global: false });
    // Counted after the answer and read before the next: over once `addressMax` are counted, hence max - 1 here.
    const byAddress = app.createRateLimit({
      max: opts.limits.rate.addressMax - 1,
      timeWindow: opts.limits.rate.windowMs,
      keyGenerator: (r) => `address:${r.ip}`,
    });
    app.addHook('onRequest', async (request, reply) => {
      if (EXEMPT(request)) return;
      const refused = refusal(reply, await byAddress(request, { increment: false }), 'address');
      if (refused) throw refused;
    });
    app.addHook('onResponse', async (request) => {
      if (!request.principal && !EXEMPT(request)) await byAddress(request);
    });
  },
  { name: 'arena-limits-before-auth' },
);

export const limitsAfterAuth = fp(
  async (app: FastifyInstance, opts: { limits: ApiLimits }) => {
    const byToken = app.createRateLimit({
      max: opts.limits.rate.max,
      timeWindow: opts.limits.rate.windowMs,
      keyGenerator: (r) => `token:${r.principal?.tokenId ?? ''}`,
    });
    app.addHook('onRequest', async (request, reply) => {
      if (!request.principal || EXEMPT(request)) return;
      const refused = refusal(reply, await byToken(request), 'token');
      if (refused) throw refused;
    });
  },
  { name: 'arena-limits-after-auth', dependencies: ['arena-limits-before-auth', 'arena-auth'] },
);
