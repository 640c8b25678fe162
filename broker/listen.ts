import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer, type Socket } from 'node:net';
import { Duplex, pipeline } from 'node:stream';
import { createServer as createTlsServer, TLSSocket } from 'node:tls';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { Logger } from '../kernel/log.js';
import { readTlsFiles, watchTlsFiles, type SecureContextHolder, type TlsFiles } from '../kernel/tls.js';
import { certificateIdentity, type CertificateIdentity } from './certificate.js';
import { FrameGuardError, frameGuard, type FrameGuardLimits } from './frame-guard.js';
import type { ReadGate } from './in-flight.js';
import type { ListenOptions, ListeningPorts } from './types.js';

/** Hands a guarded connection to the broker (aedes.handle). */
export type Accept = (
  conn: Duplex,
  info: { remote: string | undefined; transport: 'tcp' | 'ws' | 'tls' | 'wss'; req?: IncomingMessage; certificate?: CertificateIdentity },
) => void;

export interface Listeners {
  listen(opts: ListenOptions): Promise<ListeningPorts>;
  /** Stops accepting; existing connections stay until destroyAll(). */
  stop(): Promise<void>;
  destroyAll(): void;
}

// Connections the OS completes before they are accepted. Node's default (511) overflows
// when every device reconnects at once after a restart; the kernel caps it at somaxconn.
const BACKLOG = 4096;

const listenOn = (server: TcpServer | HttpServer, host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host, backlog: BACKLOG }, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

const closeServer = (server: TcpServer | HttpServer): Promise<void> => new Promise((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

/** The read gate of a connection from createListeners; undefined for any other stream. */
export const readGateOf = (conn: unknown): ReadGate | undefined => (conn instanceof GuardedConnection ? conn : undefined);

/**
 * The guard's output as the readable side, the transport itself as the writable side.
 * mqtt-packet writes one packet as several small buffers inside cork()/uncork(); _writev
 * hands them to the transport corked too, so a PUBACK is one socket write, not one per
 * buffer (Duplex.from has no _writev and unrolls them).
 */
class GuardedConnection extends Duplex implements ReadGate {
  readonly #raw: Duplex;
  readonly #guard: Duplex;
  #held = false;

  constructor(raw: Duplex, guard: Duplex) {
    super({ allowHalfOpen: false });
    this.#raw = raw;
    this.#guard = guard;
    guard.on('data', (chunk: Buffer) => {
      if (!this.push(chunk) || this.#held) guard.pause();
    });
    guard.once('end', () => this.push(null));
    // pipeline() reports and tears down the pair; this side follows it.
    guard.once('error', (e) => this.destroy(e));
    raw.once('error', (e) => this.destroy(e));
    raw.once('close', () => this.destroy());
  }

  override _read(): void {
    if (!this.#held) this.#guard.resume();
  }

  /**
   * Nothing more reaches the broker until release(): the bytes wait in the stream
   * buffers, then in the socket's, and TCP slows the sender down.
   */
  hold(): void {
    this.#held = true;
    this.#guard.pause();
  }

  release(): void {
    if (!this.#held) return;
    this.#held = false;
    if (this.readableLength < this.readableHighWaterMark) this.#guard.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (e?: Error | null) => void): void {
    if (this.#raw.write(chunk)) done();
    else this.#raw.once('drain', () => done());
  }

  override _writev(chunks: { chunk: Buffer }[], done: (e?: Error | null) => void): void {
    const raw = this.#raw;
    raw.cork();
    let room = true;
    for (const { chunk } of chunks) room = raw.write(chunk);
    raw.uncork();
    if (room) done();
    else raw.once('drain', () => done());
  }

  override _final(done: (e?: Error | null) => void): void {
    this.#raw.end();
    done();
  }

  override _destroy(e: Error | null, done: (e?: Error | null) => void): void {
    this.#raw.destroy();
    this.#guard.destroy();
    done(e);
  }
}

export interface ListenerLimits extends FrameGuardLimits {
  readonly maxPacketBytes: number;
  /** Per server; the OS accept path drops connections beyond it. */
  readonly maxConnections: number;
}

export function createListeners(accept: Accept, limits: ListenerLimits, log: Logger, tls?: TlsFiles): Listeners {
  const { maxPacketBytes } = limits;
  // aedes.close() only closes clients that finished CONNECT; the rest are ours to end.
  const open = new Set<Duplex>();
  const servers: (TcpServer | HttpServer)[] = [];
  const sockets: WebSocketServer[] = [];
  let reload: { stop(): void } | undefined;

  /** Puts the frame guard in the read path; writes go straight to the transport. */
  function guarded(raw: Duplex): Duplex {
    open.add(raw);
    raw.once('close', () => open.delete(raw));
    const guard = frameGuard(maxPacketBytes, limits);
    // pipeline destroys the transport when the guard fails (and the guard when the
    // transport dies), so an oversized or ill-formed frame ends the connection.
    pipeline(raw, guard, (err) => {
      if (err instanceof FrameGuardError) {
        log.warn({ event: 'frame_refused', code: err.code, reason: err.message }, 'connection dropped by the frame guard');
      }
    });
    return new GuardedConnection(raw, guard);
  }

  /**
   * The device certificate of a TLS connection, if it sent one. One it sent that no
   * configured CA issued (or expired, or otherwise failed verification) ends the
   * connection before any MQTT is read: the handshake accepts clients without a
   * certificate (they log in with a secret), so an untrusted one is refused here.
   */
  function peerOf(socket: Socket): { ok: boolean; certificate?: CertificateIdentity } {
    if (!(socket instanceof TLSSocket) || !tls?.clientCaFile) return { ok: true };
    const cert = socket.getPeerCertificate();
    if (!cert || Object.keys(cert).length === 0) return { ok: true };
    if (!socket.authorized) {
      log.warn(
        { event: 'certificate_refused', remote: socket.remoteAddress, reason: String(socket.authorizationError) },
        'client certificate not trusted; connection closed',
      );
      socket.destroy();
      return { ok: false };
    }
    return { ok: true, certificate: certificateIdentity(cert) };
  }

  function mqttServer(secure: boolean): TcpServer {
    const onSocket = (socket: Socket) => {
      socket.setNoDelay(true);
      const peer = peerOf(socket);
      if (!peer.ok) return;
      accept(guarded(socket), {
        remote: socket.remoteAddress,
        transport: secure ? 'tls' : 'tcp',
        ...(peer.certificate ? { certificate: peer.certificate } : {}),
      });
    };
    // rejectUnauthorized false: a device without a certificate may still log in with its secret.
    const server = secure
      ? createTlsServer({ ...readTlsFiles(tls!), requestCert: Boolean(tls!.clientCaFile), rejectUnauthorized: false }, onSocket)
      : createTcpServer(onSocket);
    server.maxConnections = limits.maxConnections;
    server.on('error', (err) => log.error({ err }, 'MQTT listener error'));
    if (secure) server.on('tlsClientError', (err) => log.info({ event: 'tls_error', reason: err.message }, 'TLS handshake failed'));
    servers.push(server);
    return server;
  }

  function wsServer(secure: boolean): HttpServer {
    const notFound = (_req: IncomingMessage, res: import('node:http').ServerResponse) => res.writeHead(404).end();
    const http = secure
      ? createHttpsServer({ ...readTlsFiles(tls!), requestCert: Boolean(tls!.clientCaFile), rejectUnauthorized: false }, notFound)
      : createHttpServer(notFound);
    http.maxConnections = limits.maxConnections;
    const wss = new WebSocketServer({
      server: http,
      path: '/mqtt',
      // One WebSocket message carries at most one MQTT packet's worth of bytes plus its
      // fixed header (1 + 4); ws refuses bigger messages itself (close 1009).
      maxPayload: maxPacketBytes + 5,
      // [MQTT-6.0.0-4] the selected WebSocket subprotocol is "mqtt".
      handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
    });
    wss.on('error', (err) => log.error({ err }, 'WebSocket listener error'));
    wss.on('connection', (ws, req) => {
      const peer = peerOf(req.socket);
      if (!peer.ok) return;
      const stream = createWebSocketStream(ws);
      accept(guarded(stream), {
        remote: req.socket.remoteAddress,
        transport: secure ? 'wss' : 'ws',
        req,
        ...(peer.certificate ? { certificate: peer.certificate } : {}),
      });
    });
    sockets.push(wss);
    servers.push(http);
    return http;
  }

  return {
    async listen(opts) {
      if (servers.length > 0) throw new Error('broker is already listening');
      if ((opts.tlsPort !== undefined || opts.wssPort !== undefined) && !tls) throw new Error('a TLS port needs a certificate and key');
      const ports: { -readonly [K in keyof ListeningPorts]: ListeningPorts[K] } = {};
      if (opts.mqttPort !== undefined) ports.mqttPort = await listenOn(mqttServer(false), opts.host, opts.mqttPort);
      if (opts.wsPort !== undefined) ports.wsPort = await listenOn(wsServer(false), opts.host, opts.wsPort);
      if (opts.tlsPort !== undefined) ports.tlsPort = await listenOn(mqttServer(true), opts.host, opts.tlsPort);
      if (opts.wssPort !== undefined) ports.wssPort = await listenOn(wsServer(true), opts.host, opts.wssPort);
      const secure = servers.filter((s): s is TcpServer & SecureContextHolder => 'setSecureContext' in s);
      if (tls && secure.length > 0) reload = watchTlsFiles(tls, secure, log);
      return ports;
    },

    async stop() {
      reload?.stop();
      for (const wss of sockets) wss.close();
      for (const server of servers) if ('closeAllConnections' in server) server.closeAllConnections();
      await Promise.all(servers.map(closeServer));
    },

    destroyAll() {
      for (const conn of open) conn.destroy();
      open.clear();
    },
  };
}
