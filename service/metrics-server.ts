import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HubMetrics } from '../kernel/metrics.js';

/**
 * GET /metrics on a port of its own, for a split service without an HTTP API (the
 * broker). It serves counters only, no data, and is meant for the internal network the
 * scraper shares with the service (compose publishes it nowhere).
 */
export async function serveMetrics(o: { host: string; port: number }, metrics: HubMetrics): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') return void res.writeHead(404).end();
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
