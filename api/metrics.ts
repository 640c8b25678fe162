import { createHash, timingSafeEqual } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { HubError } from '../kernel/errors.js';
import type { HubMetrics } from '../kernel/metrics.js';
import type { TokenRegistry } from '../kernel/tokens.js';
import { bearerOf } from './auth.js';
import { problems } from './problem.js';

export interface MetricsOptions {
  readonly metrics: HubMetrics;
  /**
   * The scraper's own credential (API_METRICS_TOKEN). Prometheus sends it as a bearer
   * token from a file (`authorization.credentials_file`); it opens /metrics and nothing
   * else, so the scraper never holds an admin token that could read or change data.
   * Without it, admin tokens only.
   */
  readonly token: string | undefined;
  readonly verifyToken: TokenRegistry['verifyToken'];
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

/**
 * GET /metrics in the Prometheus text format, and what only the API sees of its own
 * work: the live streams open and the dataset exports answered, watched from route hooks
 * so the routes themselves carry no metrics code. Cross-cutting (fastify-plugin): the
 * hooks see every route.
 */
export const metricsRoutes = fp(
  async (app: FastifyInstance, o: MetricsOptions) => {
    const scraper = o.token === undefined ? undefined : digest(o.token);
    const streams = new Set<ServerResponse>();
    // A request to /v1/live is a stream once it answered 200 (text/event-stream) and until it closes.
    o.metrics.countLiveStreams(() => [...streams].filter((res) => res.headersSent && res.statusCode === 200).length);

    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.url !== '/v1/live') return;
      const res = reply.raw;
      streams.add(res);
      res.once('close', () => streams.delete(res));
    });
    app.addHook('onResponse', async (request, reply) => {
      if (request.routeOptions.url === '/v1/trials/:id/dataset') o.metrics.exported(reply.statusCode, reply.elapsedTime / 1000);
    });

    app.get('/metrics', {
      // Checked here rather than by role: the scraper's credential is no registry token.
      config: { access: 'public' },
      schema: {
        tags: ['health'],
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        description:
          'Bearer API_METRICS_TOKEN or an admin token. Messages accepted and rejected by code, commit latency, journal depth, MQTT connections and refusals, in-flight holds, open alarms by code, live streams, exports, process metrics.',
        response: problems(401, 403),
      },
      handler: async (request, reply) => {
        const bearer = bearerOf(request);
        if (!bearer) {
          reply.header('www-authenticate', 'Bearer realm="arena-hub"');
          throw new HubError('UNAUTHENTICATED', 'send Authorization: Bearer <API_METRICS_TOKEN or an admin token>');
        }
        const isScraper = scraper !== undefined && timingSafeEqual(digest(bearer), scraper);
        if (!isScraper) {
          const principal = await o.verifyToken(bearer, Date.now());
          if (!principal) throw new HubError('UNAUTHENTICATED', 'the bearer token is unknown, expired or revoked');
          if (principal.role !== 'admin') throw new HubError('FORBIDDEN', `role ${principal.role} may not read metrics`);
        }
        reply.type(o.metrics.registry.contentType);
        return o.metrics.registry.metrics();
      },
    });
  },
  { name: 'arena-metrics' },
);
