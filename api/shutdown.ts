import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * A bound on how long open requests can hold the API's close. Fastify's close waits for
 * every connection that carries a request; a caller that never finishes one (a stalled
 * download, a request whose body never ends) would keep the hub from stopping. After
 * graceMs the remaining connections are cut, and the routes they were on are logged
 * (route patterns only: a URL can hold a participant id).
 */
export const boundedClose = fp<{ graceMs: number }>(
  async (app: FastifyInstance, { graceMs }) => {
    const inFlight = new Map<object, string>();
    app.addHook('onRequest', async (request) => {
      inFlight.set(request.raw, `${request.method} ${request.routeOptions.url ?? '(no route)'}`);
    });
    app.addHook('onResponse', async (request) => {
      inFlight.delete(request.raw);
    });
    app.addHook('onRequestAbort', async (request) => {
      inFlight.delete(request.raw);
    });
    app.addHook('preClose', async () => {
      const timer = setTimeout(() => {
        app.log.warn({ graceMs, routes: [...inFlight.values()] }, 'requests still open at shutdown; their connections are cut');
        app.server.closeAllConnections();
      }, graceMs);
      timer.unref();
      app.server.once('close', () => clearTimeout(timer));
    });
  },
  { name: 'arena-bounded-close' },
);
