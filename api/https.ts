import { createServer, type Server as HttpsServer } from 'node:https';
import type { FastifyServerFactory } from 'fastify';
import type { Logger } from '../kernel/log.js';
import { readTlsFiles, watchTlsFiles, type TlsFiles } from '../kernel/tls.js';

/**
 * Fastify's server as HTTPS from the configured certificate and key, swapped for new
 * connections when the files change (kernel/tls.ts). No plain listener beside it: with a
 * certificate configured, the API speaks HTTPS only.
 */
export function httpsServer(tls: TlsFiles, log: Logger): { serverFactory: FastifyServerFactory; stop(): void } {
  let reload: { stop(): void } | undefined;
  const serverFactory: FastifyServerFactory = (handler) => {
    const server: HttpsServer = createServer(readTlsFiles(tls), handler);
    reload = watchTlsFiles(tls, [server], log.child({ component: 'api' }));
    // Fastify's default factory hands back a node:http Server; https.Server is one by inheritance.
    return server as unknown as ReturnType<FastifyServerFactory>;
  };
  return { serverFactory, stop: () => reload?.stop() };
}
