import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HubError } from '../../kernel/errors.js';
import type { ApiDeps } from '../deps.js';
import { problems } from '../problem.js';

const READY_TIMEOUT_MS = 2000;

const within = <T>(what: string, p: Promise<T>): Promise<T> =>
  Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref())]);

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
      summary: 'Readiness: telemetry store and registry answer, and the store takes writes',
      description:
        'A store that refuses writes (out of memory, disk full, I/O errors) answers 503 at once, saying since when and what waits in the journal, even though it still answers queries; the error itself is in /v1/ingest/stats (admin).',
      response: { 200: z.object({ status: z.literal('ready') }), ...problems(503) },
    },
    handler: async (request) => {
      const checks: [string, () => Promise<unknown>][] = [
        ['store', () => deps.store.ping()],
        // A primary-key lookup: one round trip to the registry's database.
        ['registry', () => deps.registry.getVendor('readyz-probe')],
        ...(deps.ready ? [['hub', deps.ready] as [string, () => Promise<unknown>]] : []),
      ];
      for (const [name, check] of checks) {
        try {
          await within(name, check());
        } catch (err) {
          request.log.warn({ err, check: name }, 'not ready');
          // The store's own account of an outage (stores/outbox/outbox.ts ping) is the useful part.
          const cause = name === 'store' && err instanceof HubError ? `: ${err.message}` : '';
          throw new HubError('STORE_UNAVAILABLE', `${name} is not ready${cause}`);
        }
      }
      return { status: 'ready' as const };
    },
  });
};
