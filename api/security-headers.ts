import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * Response headers every answer carries unless its route set its own (the ward page sets
 * a full CSP and no-cache: it holds no data). Data must not stay in a shared or browser
 * cache (RFC 9111 §5.2.2.5 no-store), must not be sniffed into another type, must not
 * travel as a referrer, and no page may frame the API or /docs (CSP frame-ancestors,
 * which /docs' own scripts do not need restricting for).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "frame-ancestors 'none'",
};

export const securityHeaders = fp(
  async (app: FastifyInstance) => {
    app.addHook('onSend', async (_request, reply, payload) => {
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) if (!reply.hasHeader(name)) reply.header(name, value);
      return payload;
    });
  },
  { name: 'arena-security-headers' },
);
