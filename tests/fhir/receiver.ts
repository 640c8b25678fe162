import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A FHIR server stand-in on 127.0.0.1 that takes transaction Bundles: it answers 503
 * while `failing`, and otherwise records each Bundle it accepted, in arrival order.
 */
export interface Receiver {
  readonly url: string;
  failing: boolean;
  /** Requests refused with 503. */
  readonly refusedRequests: number;
  readonly accepted: any[];
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const state = { failing: true, refused: 0, accepted: [] as any[] };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (state.failing) {
        state.refused++;
        res.writeHead(503, { 'retry-after': '1' }).end();
        return;
      }
      const bundle = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      state.accepted.push(bundle);
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify({ resourceType: 'Bundle', type: 'transaction-response', entry: bundle.entry.map(() => ({ response: { status: '200 OK' } })) }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/fhir`,
    get failing() {
      return state.failing;
    },
    set failing(v: boolean) {
      state.failing = v;
    },
    get refusedRequests() {
      return state.refused;
    },
    accepted: state.accepted,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
