import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local HTTP proxy in front of influxd that a test controls. Shut, it answers 503 to
 * everything (a server that is down). A hold stops the next write whose body contains a
 * needle once the proxy has received it whole (the request is on the wire, the client
 * waits for its answer) and forwards it only when released.
 */
export interface InfluxProxy {
  readonly url: string;
  open(): void;
  shut(): void;
  /** The next write (`/api/v2/write`) whose body contains `needle`: `arrived` once it is held, forwarded at release(). */
  holdWrite(needle: string): { readonly arrived: Promise<void>; release(): void };
  close(): Promise<void>;
}

export async function startInfluxProxy(upstream: string, o: { shut?: boolean } = {}): Promise<InfluxProxy> {
  let open = !o.shut;
  const holds: { needle: string; arrived: () => void; released: Promise<void> }[] = [];
  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse): void => {
    const headers = { ...req.headers };
    delete headers.host;
    const out = request(new URL(req.url ?? '/', upstream), { method: req.method, headers }, (up) => {
      res.writeHead(up.statusCode ?? 502, up.headers);
      up.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    out.end(body);
  };
  const proxy: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!open) return void res.writeHead(503).end();
      const body = Buffer.concat(chunks);
      const i = req.url?.startsWith('/api/v2/write') ? holds.findIndex((h) => body.includes(h.needle)) : -1;
      if (i < 0) return forward(req, body, res);
      const [hold] = holds.splice(i, 1);
      hold!.arrived();
      void hold!.released.then(() => forward(req, body, res));
    });
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`,
    open: () => void (open = true),
    shut: () => void (open = false),
    holdWrite(needle) {
      let arrived!: () => void;
      let release!: () => void;
      const hold = {
        needle,
        arrived: () => arrived(),
        released: new Promise<void>((r) => (release = r)),
      };
      const seen = new Promise<void>((r) => (arrived = r));
      holds.push(hold);
      return { arrived: seen, release: () => release() };
    },
    close: () =>
      new Promise<void>((resolve) => {
        proxy.closeAllConnections();
        proxy.close(() => resolve());
      }),
  };
}
