import { once } from 'node:events';
import { resolve } from 'node:path';
import { createServer, type TLSSocket } from 'node:tls';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadApiServiceConfig } from '../../api/config.js';
import { loadIngestServiceConfig } from '../../ingest/config.js';
import { connectServiceClient } from '../../service/mqtt-client.js';
import { makePki, type Pki } from './pki.js';

// The split services' MQTT client over TLS (service/mqtt-client.ts): its variables, and
// what it checks in a real handshake against a TLS server that asks for a client
// certificate (the broker's own TLS, with MQTT, is tests/network/split-tls.test.ts).

const SPLIT = { ARENA_REGISTRY_URL: 'postgres://h/db', BROKER_SERVICE_SECRET: 'a-long-enough-secret' };

describe('MQTT_TLS_* for the split services', () => {
  it('connects plain to MQTT_PORT without a CA, over TLS to MQTT_TLS_PORT with one', () => {
    expect(loadIngestServiceConfig({ ...SPLIT, MQTT_HOST: 'broker', MQTT_PORT: '1884' }).broker).toEqual({
      host: 'broker',
      port: 1884,
      url: 'mqtt://broker:1884',
      tls: undefined,
    });
    const env = { ...SPLIT, MQTT_HOST: 'broker', MQTT_TLS_PORT: '8884', MQTT_TLS_CA_FILE: 'certs/ca.crt', MQTT_TLS_SERVER_NAME: 'arena.example.org' };
    const tls = { caFile: resolve('certs/ca.crt'), serverName: 'arena.example.org' };
    expect(loadIngestServiceConfig(env).broker).toEqual({ host: 'broker', port: 8884, url: 'mqtts://broker:8884', tls });
    expect(loadApiServiceConfig(env).feed.broker).toEqual(loadIngestServiceConfig(env).broker);
    expect(
      loadIngestServiceConfig({ ...SPLIT, MQTT_TLS_CA_FILE: 'ca.crt', MQTT_TLS_CLIENT_CERT_FILE: 'svc.crt', MQTT_TLS_CLIENT_KEY_FILE: 'svc.key' }).broker.tls,
    ).toEqual({ caFile: resolve('ca.crt'), certFile: resolve('svc.crt'), keyFile: resolve('svc.key') });
  });

  it('refuses a certificate without its key, and TLS settings without the CA that turns TLS on, every problem at once', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadIngestServiceConfig({ ...SPLIT, ...env });
      } catch (e) {
        return (e as Error).message.split('\n');
      }
      return [];
    };
    expect(problems({ MQTT_TLS_CA_FILE: 'ca.crt', MQTT_TLS_CLIENT_CERT_FILE: 'svc.crt' })).toEqual([
      'MQTT_TLS_CLIENT_KEY_FILE: MQTT_TLS_CLIENT_CERT_FILE and MQTT_TLS_CLIENT_KEY_FILE go together',
    ]);
    expect(
      problems({ MQTT_TLS_SERVER_NAME: 'arena.example.org', MQTT_TLS_CLIENT_CERT_FILE: 'svc.crt', MQTT_TLS_CLIENT_KEY_FILE: 'svc.key', MQTT_TLS_PORT: 'x' }),
    ).toEqual([
      'MQTT_TLS_PORT: must be a whole number from 0 to 65535',
      'MQTT_TLS_SERVER_NAME: is used over TLS only: set MQTT_TLS_CA_FILE too',
      'MQTT_TLS_CLIENT_CERT_FILE: is used over TLS only: set MQTT_TLS_CA_FILE too',
    ]);
  });
});

describe('the service client in a TLS handshake', () => {
  let pki: Pki;
  let ca: { cert: string; key: string };
  let other: { cert: string; key: string };
  let client: { cert: string; key: string };
  let port: number;
  const seen: { servername: unknown; authorized: boolean; cn: unknown }[] = [];
  const server = createServer({ requestCert: true, rejectUnauthorized: false }, (s: TLSSocket) => {
    seen.push({ servername: s.servername, authorized: s.authorized, cn: s.getPeerCertificate().subject?.CN });
    s.destroy(); // no MQTT here: the handshake is what is tested
  });

  beforeAll(async () => {
    pki = makePki();
    ca = pki.ca('arena-ca');
    other = pki.ca('other-ca');
    // Names the arena's public host only, as a certificate from a public CA would.
    const cert = pki.issue(ca, 'public-host', { cn: 'arena.test', san: 'DNS:arena.test' });
    client = pki.issue(ca, 'service', { cn: 'arena-ingest' });
    server.setSecureContext({ cert: readFileSync(cert.cert), key: readFileSync(cert.key), ca: readFileSync(ca.cert) });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  /** The client's first error, or `connected` once the server has seen the handshake. */
  async function attempt(tls: Parameters<typeof connectServiceClient>[0]['tls']): Promise<string> {
    const before = seen.length;
    const c = connectServiceClient({ url: `mqtts://127.0.0.1:${port}`, tls, clientId: 'svc', clean: true, username: 'u', password: 'p', reconnectMs: 60_000 });
    try {
      return await new Promise<string>((resolve) => {
        c.once('error', (e) => resolve(e.message));
        const poll = setInterval(() => {
          if (seen.length > before) {
            clearInterval(poll);
            resolve('connected');
          }
        }, 20);
        c.once('error', () => clearInterval(poll));
      });
    } finally {
      await c.endAsync(true);
    }
  }

  it('checks the certificate against MQTT_TLS_SERVER_NAME, sends it as SNI, and presents its own certificate', async () => {
    expect(await attempt({ caFile: ca.cert, serverName: 'arena.test', certFile: client.cert, keyFile: client.key })).toBe('connected');
    expect(seen.at(-1)).toEqual({ servername: 'arena.test', authorized: true, cn: 'arena-ingest' });
  });

  it('refuses a broker whose certificate its CA did not issue, or that names another host', async () => {
    const count = seen.length;
    expect(await attempt({ caFile: other.cert, serverName: 'arena.test' })).toMatch(/self[- ]signed|unable to (get|verify)/i);
    expect(await attempt({ caFile: ca.cert })).toMatch(/does not match|altnames/i);
    expect(await attempt({ caFile: ca.cert, serverName: 'elsewhere.test' })).toMatch(/does not match|altnames/i);
    // No handshake completed: nothing, the service secret least of all, went to an unverified broker.
    expect(seen.length).toBe(count);
  });

  it('names the file it cannot read', () => {
    expect(() =>
      connectServiceClient({ url: 'mqtts://127.0.0.1:1', tls: { caFile: '/nonexistent/ca.crt' }, clientId: 'x', clean: true, username: 'u', password: 'p' }),
    ).toThrow('cannot read MQTT_TLS_CA_FILE /nonexistent/ca.crt');
  });
});
