import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CommitForwardStats } from './commit-forward.js';
import type { IngestStats } from './stats.js';
import type { HubMetrics } from '../kernel/metrics.js';

/**
 * The split ingest's own small HTTP endpoint (it has no API): GET /healthz answers 200
 * while every handoff session is connected (503 otherwise), GET /stats the ingest
 * counters of this process and those of its forwarding to the API, GET /metrics the same for
 * Prometheus. For container health checks, the scraper and the fault tests.
 */
export async function serveIngestStatus(
  o: { host: string; port: number },
  status: { stats: IngestStats; sessions: () => { connected: number; total: number }; forward?: () => CommitForwardStats; metrics?: HubMetrics },
): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const sessions = status.sessions();
    const send = (code: number, body: unknown): void => {
      res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'GET only' });
    if (req.url === '/healthz') return send(sessions.connected === sessions.total ? 200 : 503, { sessions });
    if (req.url === '/stats') return send(200, { ...status.stats.snapshot(), sessions, forward: status.forward?.() });
    // Prometheus (kernel/metrics.ts), as open as /stats: this port is for the internal network.
    if (req.url === '/metrics' && status.metrics) {
      const { registry } = status.metrics;
      return void registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => send(500, { error: 'metrics failed' }),
      );
    }
    send(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
