import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Aedes, type AedesOptions, type Client } from 'aedes';
import aedesPersistenceLevel from 'aedes-persistence-level';
import { ClassicLevel } from 'classic-level';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CHECKED_AGAINST,
  enqueueInOrder,
  persistenceOf,
  sentDisconnect,
  uniqueOutgoingIds,
  type AedesPersistence,
  type OutgoingPacket,
} from '../../broker/aedes-compat.js';
import { connect, connectBytes, endClient, frame, rawConnection } from './harness.js';

/**
 * broker/aedes-compat.ts holds every reliance on aedes internals. These tests fail when
 * an aedes upgrade changes what a patch assumes: the installed releases are the ones
 * the patches were read against, and plain aedes (no hub hooks) still behaves as each
 * patch says, so that a patch which became wrong or needless is seen and revisited.
 */

const ROOT = resolve(import.meta.dirname, '../..');

describe('the aedes releases installed', () => {
  it('are the ones broker/aedes-compat.ts was read against (read its patches again before changing CHECKED_AGAINST)', () => {
    const installed = Object.fromEntries(
      Object.keys(CHECKED_AGAINST).map((name) => [
        name,
        (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version,
      ]),
    );
    expect(installed).toEqual(CHECKED_AGAINST);
  });
});

interface Plain {
  readonly aedes: Aedes;
  readonly port: number;
  /** The aedes client of each client id, as its 'client' event gave it. */
  readonly clients: Map<string, Client>;
}

const opened: { server: Server; aedes: Aedes }[] = [];
const mqttClients: MqttClient[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await Promise.all(mqttClients.splice(0).map(endClient));
  for (const { server, aedes } of opened.splice(0)) {
    await new Promise<void>((r) => aedes.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  }
  for (const c of cleanups.splice(0)) await c();
});

/** aedes as it ships, on a loopback port, with only the options given. */
async function plainAedes(opts: AedesOptions = {}): Promise<Plain> {
  const aedes = await Aedes.createBroker(opts);
  const clients = new Map<string, Client>();
  aedes.on('client', (c) => clients.set(c.id, c));
  const server = createServer((socket) => aedes.handle(socket));
  opened.push({ server, aedes });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { aedes, port: (server.address() as { port: number }).port, clients };
}

async function client(p: Plain, clientId: string, clean = true): Promise<MqttClient> {
  const c = await connect(`mqtt://127.0.0.1:${p.port}`, { clientId, clean });
  mqttClients.push(c);
  return c;
}

const publish = (aedes: Aedes, topic: string, payload: string, qos: 1 | 2): Promise<void> =>
  new Promise((r, j) => aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, (e) => (e ? j(e) : r())));

/** A LevelDB-backed aedes persistence in a temporary folder, removed after the test. */
async function levelPersistence(): Promise<AedesPersistence> {
  const dir = mkdtempSync(join(tmpdir(), 'arena-aedes-level-'));
  const db = new ClassicLevel<string, string>(dir);
  await db.open();
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return aedesPersistenceLevel(db) as AedesPersistence;
}

describe('plain aedes still behaves as each patch in broker/aedes-compat.ts assumes', () => {
  it('persistenceOf: aedes keeps the persistence it runs on, passed or its own, on the instance', async () => {
    const persistence = await levelPersistence();
    expect(persistenceOf((await plainAedes({ persistence })).aedes)).toBe(persistence);
    expect(typeof persistenceOf((await plainAedes()).aedes).outgoingStream).toBe('function');
  });

  it('sentDisconnect: aedes marks a client that sent DISCONNECT, and not one whose connection dropped', async () => {
    const p = await plainAedes();
    const ended = new Map<string, boolean>();
    p.aedes.on('clientDisconnect', (c) => ended.set(c.id, sentDisconnect(c)));
    await (await client(p, 'polite')).endAsync(); // not forced: mqtt.js sends DISCONNECT
    const rude = await client(p, 'rude');
    rude.stream.destroy();
    await expect.poll(() => Object.fromEntries(ended)).toEqual({ polite: true, rude: false });
  });

  it('correctSessionPresent: aedes answers Session Present 0 for a stored CleanSession 0 session without subscriptions [MQTT-3.2.2-2]', async () => {
    const p = await plainAedes();
    // The first CONNECT finds no session (0, rightly); the second finds the one the first left, and still gets 0.
    for (const expected of [0, 0]) {
      const r = await rawConnection(p.port);
      cleanups.push(() => void r.socket.destroy());
      r.socket.write(connectBytes({ clientId: 'kept', clean: false }));
      const ack = await r.bytes(4);
      expect([ack[0], ack[2], ack[3]]).toEqual([0x20, expected, 0]);
      r.socket.end(Buffer.from([0xe0, 0x00]));
      await r.closed();
    }
  });

  it('storeOnlyAllowedFilters: aedes stores a refused filter in the session beside a granted one', async () => {
    const p = await plainAedes({ authorizeSubscribe: (_c, sub, cb) => cb(null, sub.topic === '#' ? null : sub) });
    const c = await client(p, 'mixed', false);
    await c.subscribeAsync(['#', 'a/b'], { qos: 1 }).catch(() => undefined);
    const stored = await persistenceOf(p.aedes).subscriptionsByClient({ id: 'mixed' });
    expect(stored.map((s) => s.topic).sort()).toEqual(['#', 'a/b']);
  });

  it.each([
    ['plain aedes drops a message whose queuing finished after a later one (lib/client.js dedupe)', false, ['second', 'third']],
    ['enqueueInOrder hands the completions over in order, and every message arrives', true, ['first', 'second', 'third']],
  ])('enqueueInOrder: %s', async (_name, patched, expected) => {
    const p = await plainAedes();
    const persistence = persistenceOf(p.aedes);
    const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    const asked: string[] = [];
    // A backend whose write of the first message finishes after the second's, as LevelDB's may.
    persistence.outgoingEnqueueCombi = async (subs, packet) => {
      const payload = (packet as { payload: Buffer }).payload.toString();
      asked.push(payload);
      if (payload === 'first') await gate;
      return enqueue(subs, packet);
    };
    if (patched) enqueueInOrder(persistence);
    const c = await client(p, 'ordered', false);
    const received: string[] = [];
    c.on('message', (_t, payload) => received.push(payload.toString()));
    await c.subscribeAsync('q/1', { qos: 1 });
    const first = publish(p.aedes, 'q/1', 'first', 1);
    const second = publish(p.aedes, 'q/1', 'second', 1);
    await expect.poll(() => asked).toEqual(['first', 'second']);
    // Unpatched, the second message is queued, emitted and delivered while the first is still being written.
    if (!patched) await second;
    open();
    await Promise.all([first, second]);
    await publish(p.aedes, 'q/1', 'third', 1);
    await expect.poll(() => received.at(-1)).toBe('third');
    expect(received).toEqual(expected);
  });

  it("uniqueOutgoingIds: aedes numbers a connection's next outgoing packet from client._nextId", async () => {
    const p = await plainAedes();
    const c = await client(p, 'numbered');
    const ids: (number | undefined)[] = [];
    c.on('message', (_t, _m, packet) => ids.push(packet.messageId));
    await c.subscribeAsync('n/1', { qos: 1 });
    (p.clients.get('numbered') as unknown as { _nextId: number })._nextId = 4242;
    await publish(p.aedes, 'n/1', 'x', 1);
    await expect.poll(() => ids).toEqual([4242]);
  });

  it('uniqueOutgoingIds: aedes-persistence-level clears by (client, id) alone, so a PUBACK for an old packet clears a new one with its id', async () => {
    const persistence = await levelPersistence();
    await plainAedes({ persistence }); // aedes sets the persistence up
    const packet = (brokerCounter: number) => ({
      cmd: 'publish',
      topic: 't',
      payload: Buffer.from('x'),
      qos: 1,
      retain: false,
      dup: false,
      brokerId: 'b',
      brokerCounter,
    });
    const c = { id: 'c' };
    for (const counter of [1, 2]) await persistence.outgoingEnqueueCombi([{ clientId: 'c', topic: 't', qos: 1 }], packet(counter));
    await persistence.outgoingUpdate(c, { ...packet(1), messageId: 7 }); // sent, then the connection went
    await persistence.outgoingUpdate(c, { ...packet(2), messageId: 7 }); // the next connection's counter landed on 7
    expect(await persistence.outgoingClearMessageId(c, { messageId: 7 })).toMatchObject({ brokerCounter: 2 });
  });

  it("uniqueOutgoingIds: aedes stores the PUBREL of a QoS 2 packet under the packet's id, without a broker counter", async () => {
    const p = await plainAedes();
    const persistence = persistenceOf(p.aedes);
    const update = persistence.outgoingUpdate.bind(persistence);
    const updates: { cmd: string; messageId?: number; brokerCounter?: number }[] = [];
    persistence.outgoingUpdate = (cl, packet) => {
      updates.push({ cmd: packet.cmd, messageId: packet.messageId, brokerCounter: packet.brokerCounter });
      return update(cl, packet);
    };
    const c = await client(p, 'exactly-once', false);
    await c.subscribeAsync('e/1', { qos: 2 });
    await publish(p.aedes, 'e/1', 'x', 2);
    await expect.poll(() => updates.map((u) => u.cmd)).toEqual(['publish', 'pubrel']);
    expect(updates[1]).toEqual({ cmd: 'pubrel', messageId: updates[0]!.messageId, brokerCounter: undefined });
    expect(updates[0]!.brokerCounter).toBeGreaterThan(0);
  });

  it('flagRedeliveries: aedes resends an unacknowledged packet of a persistent session with DUP=0 [MQTT-3.3.1-1]', async () => {
    const p = await plainAedes();
    const subscribeBytes = Buffer.from([0x82, 8, 0, 1, 0, 3, ...Buffer.from('r/1'), 1]);
    const first = await rawConnection(p.port);
    cleanups.push(() => void first.socket.destroy());
    first.socket.write(Buffer.concat([connectBytes({ clientId: 'resent', clean: false }), subscribeBytes]));
    await first.bytes(4 + 5); // CONNACK, SUBACK
    await publish(p.aedes, 'r/1', 'x', 1);
    expect((await first.bytes(10)).subarray(9)[0]).toBe(0x32); // PUBLISH, QoS 1, DUP 0
    first.socket.destroy(); // no PUBACK
    await expect.poll(() => p.clients.get('resent')?.closed).toBe(true);
    const again = await rawConnection(p.port);
    cleanups.push(() => void again.socket.destroy());
    again.socket.write(connectBytes({ clientId: 'resent', clean: false }));
    expect((await again.bytes(5)).subarray(4)[0]).toBe(0x32); // sent again, still DUP 0
  });
});

/** A persistence that keeps packets by (client, message id), as aedes-persistence-level does. */
function byIdPersistence(): AedesPersistence & { byId: Map<string, OutgoingPacket> } {
  const byId = new Map<string, OutgoingPacket>();
  return {
    byId,
    subscriptionsByTopic: async () => [],
    subscriptionsByClient: async () => [],
    addSubscriptions: async () => undefined,
    outgoingEnqueueCombi: async () => undefined,
    outgoingUpdate: async (client, packet) => void byId.set(`${client.id}:${packet.messageId}`, { ...packet }),
    outgoingClearMessageId: async (client, packet) => {
      const key = `${client.id}:${packet.messageId}`;
      const found = byId.get(key);
      byId.delete(key);
      return found;
    },
    outgoingStream: async function* () {},
  };
}

describe('plain aedes still accepts what broker/frame-guard.ts refuses before aedes reads it', () => {
  it('[MQTT-3.10.3-2] an UNSUBSCRIBE without a topic filter is answered with an UNSUBACK', async () => {
    const p = await plainAedes();
    const r = await rawConnection(p.port);
    cleanups.push(() => void r.socket.destroy());
    r.socket.write(Buffer.concat([connectBytes({ clientId: 'empty-unsub', clean: true }), frame(0xa2, Buffer.from([0, 7]))]));
    expect([...(await r.bytes(4 + 4)).subarray(4)]).toEqual([0xb0, 2, 0, 7]);
  });

  it('[MQTT-3.1.2-14] a CONNECT with will QoS 3 is accepted (CONNACK 0)', async () => {
    const p = await plainAedes();
    const r = await rawConnection(p.port);
    cleanups.push(() => void r.socket.destroy());
    r.socket.write(connectBytes({ clientId: 'will-3', clean: true, will: { topic: 'w/1', payload: Buffer.from('gone') }, willQos: 3 }));
    expect([...(await r.bytes(4))]).toEqual([0x20, 2, 0, 0]);
  });
});

describe('uniqueOutgoingIds, on a persistence that keeps packets by (client, message id)', () => {
  it('gives a new packet the next free id when an unacknowledged one from an earlier connection holds its id', async () => {
    const p = byIdPersistence();
    uniqueOutgoingIds(p);
    const client = { id: 'arena-ingest-3', _nextId: 0 };
    const old = { cmd: 'publish', messageId: 7, brokerId: 'b', brokerCounter: 1 };
    await p.outgoingUpdate(client, old); // sent, then the connection went
    const fresh = { cmd: 'publish', messageId: 7, brokerId: 'b', brokerCounter: 2 }; // the new connection's counter landed on 7
    await p.outgoingUpdate(client, fresh);
    expect(fresh.messageId).toBe(8);
    expect(client._nextId).toBe(9);
    // The PUBACK for 7 clears the old packet only; the new one is still there to deliver.
    expect(await p.outgoingClearMessageId(client, { messageId: 7 })).toMatchObject({ brokerCounter: 1 });
    expect(p.byId.get('arena-ingest-3:8')).toMatchObject({ brokerCounter: 2 });
  });

  it('keeps the id of a packet sent again, skips every held id, wraps after 65535, and frees ids on PUBACK', async () => {
    const p = byIdPersistence();
    uniqueOutgoingIds(p);
    const client = { id: 'c' };
    await p.outgoingUpdate(client, { cmd: 'publish', messageId: 65535, brokerId: 'b', brokerCounter: 1 });
    await p.outgoingUpdate(client, { cmd: 'publish', messageId: 1, brokerId: 'b', brokerCounter: 2 });
    const again = { cmd: 'publish', messageId: 65535, brokerId: 'b', brokerCounter: 1 };
    await p.outgoingUpdate(client, again);
    expect(again.messageId).toBe(65535); // a resend is the same packet
    const clash = { cmd: 'publish', messageId: 65535, brokerId: 'b', brokerCounter: 3 };
    await p.outgoingUpdate(client, clash);
    expect(clash.messageId).toBe(2); // 65535 and 1 are held
    await p.outgoingClearMessageId(client, { messageId: 65535 });
    const later = { cmd: 'publish', messageId: 65535, brokerId: 'b', brokerCounter: 4 };
    await p.outgoingUpdate(client, later);
    expect(later.messageId).toBe(65535); // free again
    // Other clients' ids are their own.
    const other = { cmd: 'publish', messageId: 1, brokerId: 'b', brokerCounter: 5 };
    await p.outgoingUpdate({ id: 'd' }, other);
    expect(other.messageId).toBe(1);
  });

  it('leaves the PUBREL that replaces a QoS 2 packet under its id as it is', async () => {
    const p = byIdPersistence();
    uniqueOutgoingIds(p);
    const client = { id: 'c' };
    await p.outgoingUpdate(client, { cmd: 'publish', messageId: 5, brokerId: 'b', brokerCounter: 1 });
    const pubrel = { cmd: 'pubrel', messageId: 5 }; // aedes's PubRel: no broker id or counter
    await p.outgoingUpdate(client, pubrel);
    expect(pubrel.messageId).toBe(5);
    expect(p.byId.get('c:5')).toMatchObject({ cmd: 'pubrel' });
  });
});
