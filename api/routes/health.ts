import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HubError } from '../../kernel/errors.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';
import { readiness } from '../readiness.js';

/** Probes for the orchestrator: liveness never touches dependencies, readiness checks each. */
export const healthRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', {
    config: { access: 'public' },
    schema: {
      tags: ['health'],
      summary: 'Liveness: the process answers',
      response: { 200: z.object({ status: z.literal('ok') }) },
    },
    handler: async () => ({ status: 'ok' as const }),
  });

  app.get('/readyz', {
    config: { access: 'public' },
    schema: {
      tags: ['health'],
      summary: 'Readiness: telemetry store and registry answer, the store takes writes, and there is disk space',
      description:
        'A store that refuses writes (out of memory, disk full, I/O errors) answers 503 at once, saying since when and what waits in the journal, even though it still answers queries; the error itself is in /v1/ingest/stats (admin). Below the hard disk mark the hub takes no new messages and answers 503 with the reason; below the soft mark it answers 200 with warnings.',
      response: { 200: z.object({ status: z.literal('ready'), warnings: z.array(z.string()).optional() }), ...problems(503) },
    },
    handler: async (request) => {
      const r = await readiness(deps);
      if (r.ready) return { status: 'ready' as const, ...(r.warnings.length > 0 ? { warnings: [...r.warnings] } : {}) };
      if (r.cause !== undefined) request.log.warn({ err: r.cause, check: r.check }, 'not ready');
      throw new HubError('STORE_UNAVAILABLE', r.reason);
    },
  });
};
