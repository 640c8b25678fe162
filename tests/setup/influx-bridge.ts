import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Test-only stand-in for the v2 write compatibility API of InfluxDB 1.8+, in front of
 * Debian's InfluxDB 1.6.7 (which has only the v1 API). It accepts
 *   POST /api/v2/write?org=&bucket=<db>[/<rp>]&precision=   with "Authorization: Token ..."
 * and forwards the line-protocol body (gzip or not) to /write?db=&rp=&precision=, as 1.8's
 * compatibility layer does (bucket "db/rp"). /query and /ping pass through unchanged.
 * Anything else is 404; an unreachable upstream is 503, as a server that is down.
 */
const V1_PRECISION: Record<string, string> = { ns: 'n', us: 'u', ms: 'ms', s: 's' };

export async function startInfluxBridge(upstream: string): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => route(upstream, req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => closeServer(server) };
}

function route(upstream: string, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://bridge');
  if (url.pathname === '/query' || url.pathname === '/ping') return forward(upstream, `${url.pathname}${url.search}`, req, res);
  if (url.pathname !== '/api/v2/write' || req.method !== 'POST') return reply(res, 404, 'not found', `no route ${req.method} ${url.pathname}`);
  if (!/^Token \S+/.test(req.headers.authorization ?? '')) return reply(res, 401, 'unauthorized', 'missing Token authorization');
  const bucket = url.searchParams.get('bucket');
  const precision = V1_PRECISION[url.searchParams.get('precision') ?? 'ns'];
  if (!bucket || !url.searchParams.get('org') || !precision) return reply(res, 400, 'invalid', 'org, bucket and a valid precision are required');
  const [db = '', rp] = bucket.split('/');
  const target = new URLSearchParams({ db, precision, ...(rp ? { rp } : {}) });
  forward(upstream, `/write?${target}`, req, res);
}

/** Streams the request to upstream and the answer back; errors become 2.x-style JSON. */
function forward(upstream: string, path: string, req: IncomingMessage, res: ServerResponse): void {
  const headers = { ...req.headers };
  delete headers.host;
  const out = request(new URL(path, upstream), { method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  out.on('error', (e) => reply(res, 503, 'unavailable', `influxd unreachable: ${e.message}`));
  req.pipe(out);
}

function reply(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ code, message }));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve, reject) => server.close((e) => (e ? reject(e) : resolve())));
}
