import { connect as tcpConnect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { createLogger } from '../../kernel/log.js';
import type { DeviceCredentials, DeviceDirectory } from '../../kernel/ports.js';
import type { InboundMessage } from '../../kernel/telemetry.js';
import { hashSecret } from '../../kernel/secrets.js';
import { loadProfiles } from '../../device-profiles/load.js';
import { createBroker, type BrokerDeps, type BrokerRejectionCode, type HubBroker } from '../../broker/broker.js';

export const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120000, maxPastMs: 30 * 86400e3, maxFutureMs: 3600e3 });

export const LIMITS = { maxPayloadBytes: 1024, maxPacketBytes: 4096, maxTopicLength: 128, maxTopicLevels: 8 } as const;

export interface TestDevice {
  readonly id: string;
  readonly secret: string;
  readonly profileId: string;
  readonly active: boolean;
}

export const DEVICES: readonly TestDevice[] = [
  { id: 'RS3D-00421', secret: 'fall-sensor-secret', profileId: 'roomsense-3d', active: true },
  { id: 'DB-7', secret: 'dispenser-secret', profileId: 'dosebox', active: true },
  { id: 'AQ-1', secret: 'scale-secret', profileId: 'aquascale', active: true },
  { id: 'OLD-1', secret: 'retired-secret', profileId: 'dosebox', active: false },
];
export const SERVICE = { username: 'ingest-service', secret: 'service-secret' };

export type FakeDirectory = DeviceDirectory & {
  fail: boolean;
  /** As the registry does when an admin deactivates or re-keys a device. */
  update(deviceId: string, change: Partial<Pick<DeviceCredentials, 'active' | 'secretHash'>>): void;
};

/** In-memory DeviceDirectory with real scrypt hashes (hashed once per test file). */
export async function fakeDirectory(devices: readonly TestDevice[] = DEVICES): Promise<FakeDirectory> {
  const creds = new Map<string, DeviceCredentials>();
  for (const d of devices) {
    creds.set(d.id, { deviceId: d.id, profileId: d.profileId, secretHash: await hashSecret(d.secret), active: d.active });
  }
  const dir = {
    fail: false,
    async credentials(deviceId: string) {
      if (dir.fail) throw new Error('registry down');
      return creds.get(deviceId);
    },
    profileOf: (deviceId: string) => creds.get(deviceId)?.profileId,
    activeSecretHash: (deviceId: string) => {
      const c = creds.get(deviceId);
      return c?.active ? c.secretHash : undefined;
    },
    update(deviceId: string, change: Partial<Pick<DeviceCredentials, 'active' | 'secretHash'>>) {
      creds.set(deviceId, { ...creds.get(deviceId)!, ...change });
    },
    attribution: () => ({ siteId: null, roomId: null, trialId: null, participantId: null }),
  };
  return dir;
}

const held = new Set<() => void>();
/** Opens every held sink, so a failed test cannot leave broker.close() waiting on one. */
export const releaseAll = (): void => {
  held.forEach((release) => release());
  held.clear();
};
/** Registers a hand-made hold for releaseAll(). */
export const holding = (release: () => void): void => void held.add(release);

/** A sink that records messages; `hold()` makes it wait for `release()`, `fail` makes it reject. */
export function recordingSink() {
  const messages: InboundMessage[] = [];
  let gate: Promise<void> | undefined;
  let open: (() => void) | undefined;
  let entered: (() => void) | undefined;
  const state = {
    messages,
    fail: false,
    /** Resolves when the next message enters the sink. */
    nextCall: new Promise<void>(() => undefined),
    hold() {
      gate = new Promise((r) => (open = r));
      held.add(state.release);
      state.nextCall = new Promise((r) => (entered = r));
    },
    release() {
      open?.();
      gate = undefined;
    },
    sink: async (m: InboundMessage): Promise<void> => {
      entered?.();
      if (gate) await gate;
      if (state.fail) throw new Error('store down');
      messages.push(m);
    },
  };
  return state;
}

export interface Rejected {
  readonly deviceId: string;
  readonly topic: string;
  readonly code: BrokerRejectionCode;
  readonly bytes: number;
}

/** Log lines as parsed JSON, to assert on what was (and was not) logged. */
export function captureLog() {
  const lines: Record<string, unknown>[] = [];
  const text: string[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text.push(chunk.toString());
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: createLogger('debug', dest), lines, text };
}

export interface Started {
  readonly broker: HubBroker;
  readonly port: number;
  readonly wsPort: number;
  readonly log: ReturnType<typeof captureLog>;
}

export async function startBroker(extra: Partial<BrokerDeps> & { directory: DeviceDirectory }): Promise<Started> {
  const log = captureLog();
  const broker = await createBroker({ profiles, logger: log.logger, limits: LIMITS, ...extra });
  const { mqttPort, wsPort } = await broker.listen({ host: '127.0.0.1', mqttPort: 0, wsPort: 0 });
  return { broker, port: mqttPort!, wsPort: wsPort!, log };
}

/** Resolves on CONNACK 0; rejects with the client error (code = CONNACK return code). Never reconnects. */
export function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4, ...opts });
    client.once('connect', () => resolve(client));
    client.once('error', (e) => {
      client.end(true);
      reject(e);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

export const endClient = (c: MqttClient): Promise<void> => new Promise((r) => c.end(true, {}, () => r()));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves when the client's connection closes, or rejects after `ms`. */
export const closed = (c: MqttClient, ms = 5000): Promise<void> =>
  new Promise((resolve, reject) => {
    if (!c.connected) return resolve(); // already closed (mqtt.js sets connected = false on close)
    const t = setTimeout(() => reject(new Error('connection still open')), ms);
    c.once('close', () => {
      clearTimeout(t);
      resolve();
    });
  });

/** A length-prefixed MQTT string [MQTT-1.5.3]; raw bytes are taken as they are (to send ill-formed UTF-8). */
export const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]);
};

/** A whole packet: first byte, Remaining Length, body. */
export const frame = (first: number, ...body: Buffer[]): Buffer => {
  const b = Buffer.concat(body);
  return Buffer.concat([Buffer.from([first]), varint(b.length), b]);
};

/** A QoS 0 PUBLISH with a topic given as raw bytes. */
export const publishBytes = (topic: string | Buffer, payload: string | Buffer = ''): Buffer => frame(0x30, str(topic), Buffer.from(payload));

/** A SUBSCRIBE (packet id 1) with each filter at QoS 1. */
export const subscribeBytes = (filters: (string | Buffer)[]): Buffer =>
  frame(0x82, Buffer.from([0, 1]), ...filters.map((f) => Buffer.concat([str(f), Buffer.from([1])])));

/** Remaining Length encoding [MQTT-2.2.3]. */
export function varint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A hand-made MQTT 3.1.1 CONNECT, for what mqtt.js will not send. */
export function connectBytes(o: {
  clientId: string | Buffer;
  username?: string | Buffer;
  password?: string | Buffer;
  will?: { topic: string | Buffer; payload: Buffer };
  clean: boolean;
  level?: number;
  /** Will QoS bits as sent, valid or not. */
  willQos?: number;
}): Buffer {
  const flags =
    (o.username !== undefined ? 0x80 : 0) | (o.password !== undefined ? 0x40 : 0) | ((o.willQos ?? 0) << 3) | (o.will ? 0x04 : 0) | (o.clean ? 0x02 : 0);
  return frame(
    0x10,
    str('MQTT'),
    Buffer.from([o.level ?? 4, flags, 0, 60]),
    str(o.clientId),
    o.will ? Buffer.concat([str(o.will.topic), str(o.will.payload)]) : Buffer.alloc(0),
    o.username !== undefined ? str(o.username) : Buffer.alloc(0),
    o.password !== undefined ? str(o.password) : Buffer.alloc(0),
  );
}

/** The SUBACK return codes for each filter, in order (mqtt.js rejects on any 0x80, with the packet). */
export async function subackCodes(c: MqttClient, filters: string[], qos: 0 | 1 | 2 = 1): Promise<number[]> {
  try {
    const granted = await c.subscribeAsync(filters, { qos });
    return granted.map((g) => g.qos);
  } catch (e) {
    const packet = (e as { packet?: { granted?: number[] } }).packet;
    if (!packet?.granted) throw e;
    return packet.granted;
  }
}

export interface RawConnection {
  readonly socket: Socket;
  /** Every byte the broker sent so far. */
  received(): Buffer;
  /** Resolves with every byte received once the broker closes; rejects after `ms`. */
  closed(ms?: number): Promise<Buffer>;
  /** Resolves once at least `n` bytes have arrived. */
  bytes(n: number, ms?: number): Promise<Buffer>;
}

/** A raw TCP connection to the broker, for bytes no MQTT client library would send. */
export function rawConnection(port: number): Promise<RawConnection> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1');
    const got: Buffer[] = [];
    let ended = false;
    const waiters = new Set<() => void>();
    const poke = (): void => waiters.forEach((w) => w());
    socket.on('data', (d) => {
      got.push(d);
      poke();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      ended = true;
      poke();
    });
    const until = (ready: () => boolean, what: string, ms: number): Promise<Buffer> =>
      new Promise((res, rej) => {
        const check = (): void => {
          if (!ready()) return;
          waiters.delete(check);
          clearTimeout(timer);
          res(Buffer.concat(got));
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          rej(new Error(`${what} (got ${Buffer.concat(got).toString('hex')})`));
        }, ms);
        waiters.add(check);
        check();
      });
    socket.once('connect', () =>
      resolve({
        socket,
        received: () => Buffer.concat(got),
        closed: (ms = 5000) => until(() => ended, 'broker kept the connection open', ms),
        bytes: (n, ms = 5000) => until(() => Buffer.concat(got).length >= n, `fewer than ${n} bytes arrived`, ms),
      }),
    );
    socket.once('error', reject);
  });
}
