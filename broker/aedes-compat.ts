import { type Duplex, Readable } from 'node:stream';
import type { Aedes, Client } from 'aedes';

/**
 * Every place the hub relies on aedes internals (private fields, packet fields aedes
 * keeps for itself, monkey patches of its persistence and of the connection it writes
 * to), and nowhere else: tests/architecture/aedes-internals.test.ts fails on any such
 * reach outside this file. Each patch says what aedes does, why the hub needs
 * otherwise, and was read against the releases in CHECKED_AGAINST; tests/broker/
 * aedes-compat.test.ts fails when the installed releases differ, and has one test per
 * patch that fails once plain aedes stops behaving as the patch assumes.
 *
 * What aedes accepts on the wire against MQTT 3.1.1 (an UNSUBSCRIBE without a filter,
 * a will QoS of 3, ill-formed UTF-8) is refused before aedes reads it, by
 * broker/frame-guard.ts, which touches no aedes internals; the same test file checks
 * that plain aedes still accepts the first two.
 */
export const CHECKED_AGAINST = { aedes: '1.2.0', 'aedes-persistence': '11.0.0', 'aedes-persistence-level': '9.2.0' } as const;

/**
 * The part of an aedes persistence (aedes-persistence, aedes-persistence-level) the hub
 * calls or patches itself (and the tests read); aedes calls the rest.
 */
export interface AedesPersistence {
  subscriptionsByTopic(topic: string): Promise<{ clientId: string; topic: string; qos: number }[]>;
  subscriptionsByClient(client: { id: string }): Promise<{ topic: string; qos: number }[]>;
  addSubscriptions(client: { id: string }, subs: { topic: string; qos: number }[], cb?: (err: Error | null, client?: unknown) => void): Promise<void> | void;
  outgoingEnqueueCombi(subs: unknown[], packet: unknown, cb?: (err?: Error | null) => void): Promise<unknown> | undefined;
  outgoingUpdate(client: { id: string }, packet: OutgoingPacket): Promise<unknown>;
  outgoingClearMessageId(client: { id: string }, packet: { messageId?: number }): Promise<unknown>;
  outgoingStream(client: { id: string }): AsyncIterable<OutgoingPacket>;
}

/** What the hub reads of a QoS 1/2 packet on its way to a persistent session; `brokerId` and `brokerCounter` are aedes's own. */
export interface OutgoingPacket {
  readonly cmd: string;
  readonly topic?: string;
  readonly payload?: Buffer;
  messageId?: number;
  readonly dup?: boolean;
  readonly brokerId?: string;
  readonly brokerCounter?: number;
}

/**
 * The persistence aedes runs on: the one passed as an option, or its in-memory default.
 * aedes 1.2.0 keeps it on `aedes.persistence` (aedes.js) but declares no such property.
 */
export function persistenceOf(aedes: Aedes): AedesPersistence {
  return (aedes as unknown as { persistence: AedesPersistence }).persistence;
}

/**
 * Whether the client ended its connection with DISCONNECT. aedes 1.2.0 sets the private
 * `client._disconnected` on a DISCONNECT packet (lib/handlers/index.js) and then drops
 * the will [MQTT-3.14.4-3]; its 'clientDisconnect' event does not say which it was.
 */
export function sentDisconnect(client: Client): boolean {
  return (client as unknown as { _disconnected?: boolean })._disconnected === true;
}

/** The persistence patches, applied once to the persistence aedes runs on. */
export function patchPersistence(persistence: AedesPersistence, filterAllowed: (client: Client, filter: string) => boolean): void {
  storeOnlyAllowedFilters(persistence, filterAllowed);
  enqueueInOrder(persistence);
  uniqueOutgoingIds(persistence);
  flagRedeliveries(persistence);
}

/**
 * aedes 1.2.0 stores a SUBSCRIBE's whole filter list in the session once any one filter
 * is granted (lib/handlers/subscribe.js storeSubscriptions passes packet.subscriptions),
 * so a refused `#` beside a granted filter would sit in a persistent session. It is
 * never delivered (authorizeForward), but every matching message would be queued for
 * that session, in memory or on disk, until it reconnects. Only granted filters are stored.
 */
export function storeOnlyAllowedFilters(persistence: AedesPersistence, allowed: (client: Client, filter: string) => boolean): void {
  const add = persistence.addSubscriptions.bind(persistence);
  // aedes passes its Client here (the same object the hooks see).
  persistence.addSubscriptions = (client, subs, cb) =>
    add(
      client,
      subs.filter((s) => allowed(client as Client, s.topic)),
      cb,
    );
}

/**
 * aedes 1.2.0 delivers a message to a client only if its broker counter is higher than
 * the last one that client got (lib/client.js dedupe, meant for clustered brokers), and
 * it emits a QoS 1 message only after queuing it in the persistence for every persistent
 * subscriber (aedes.js enqueueOffline). A real backend (LevelDB) finishes those writes
 * out of order, so a message could be emitted after a later one, be taken for a
 * duplicate, and sit in the session, undelivered, until the client reconnects: found
 * with the split layout's handoff under load. The writes still run concurrently; only
 * their completions are handed to aedes in the order they were asked for.
 */
export function enqueueInOrder(persistence: AedesPersistence): void {
  const enqueue = persistence.outgoingEnqueueCombi.bind(persistence);
  let previous: Promise<unknown> = Promise.resolve();
  persistence.outgoingEnqueueCombi = (subs, packet, cb) => {
    const mine = Promise.resolve(enqueue(subs, packet));
    const inOrder = previous.then(() => mine);
    previous = inOrder.catch(() => undefined);
    if (!cb) return inOrder;
    inOrder.then(
      () => cb(null),
      (err: Error) => cb(err),
    );
  };
}

/**
 * aedes 1.2.0 numbers a client's outgoing QoS 1 packets from the private counter
 * `client._nextId`, which starts anywhere (lib/client.js, lib/qos-packet.js) on every
 * connection, while packets resent from a persistent session keep the ids they were
 * first sent with, and aedes-persistence-level finds a packet to clear by (client, id)
 * alone. After a reconnect a new packet can therefore get the id of an old one still
 * awaiting its PUBACK; that PUBACK then clears the new packet, which is never
 * delivered: acknowledged to its device, lost (seen once in several runs of the split
 * layout's SIGTERM test). A packet whose id is held by another packet of the same
 * client (told apart by aedes's own `brokerId`/`brokerCounter`) is given the next free
 * id before it is stored and sent, and `_nextId` continues after it.
 *
 * Only PUBLISH packets are renumbered. On a PUBREC aedes stores a PUBREL under the same
 * id (lib/handlers/pubrec.js), and that PUBREL carries no broker id: taken for another
 * packet, it was renumbered, the persistence found nothing to update and aedes closed
 * the connection, again at every reconnect, so a QoS 2 message to a persistent session
 * never completed [MQTT-4.3.3].
 */
export function uniqueOutgoingIds(persistence: AedesPersistence): void {
  const update = persistence.outgoingUpdate.bind(persistence);
  const clear = persistence.outgoingClearMessageId.bind(persistence);
  /** Per client id: message id → the packet holding it (broker id and counter). */
  const held = new Map<string, Map<number, string>>();
  persistence.outgoingUpdate = (client, packet) => {
    const ids = held.get(client.id) ?? new Map<number, string>();
    held.set(client.id, ids);
    const identity = `${packet.brokerId}/${packet.brokerCounter}`;
    if (packet.messageId !== undefined && packet.cmd === 'publish') {
      const holder = ids.get(packet.messageId);
      if (holder !== undefined && holder !== identity) {
        let id = packet.messageId;
        do id = (id % 65535) + 1;
        while (ids.has(id));
        packet.messageId = id;
        // Later packets of this connection continue after it, clear of the held ids.
        (client as { _nextId?: number })._nextId = (id % 65535) + 1;
      }
      ids.set(packet.messageId, identity);
    }
    return update(client, packet);
  };
  persistence.outgoingClearMessageId = (client, packet) => {
    if (packet.messageId !== undefined) held.get(client.id)?.delete(packet.messageId);
    return clear(client, packet);
  };
}

/**
 * [MQTT-3.3.1-1] The DUP flag must be 1 on a PUBLISH the server re-delivers. aedes 1.2.0
 * resends a persistent session's unacknowledged packets at reconnect from
 * outgoingStream() (lib/handlers/connect.js emptyQueue) with the DUP flag they were
 * stored with, 0. A stored packet that already has a message id has been handed to the
 * connection before; one queued while the client was away has none, and is a first
 * delivery.
 */
export function flagRedeliveries(persistence: AedesPersistence): void {
  const stream = persistence.outgoingStream.bind(persistence);
  persistence.outgoingStream = (client) => Readable.from(resent(stream(client)));
}

async function* resent(packets: AsyncIterable<OutgoingPacket>): AsyncGenerator<OutgoingPacket> {
  for await (const packet of packets) {
    yield packet.cmd === 'publish' && packet.messageId !== undefined ? { ...packet, dup: true } : packet;
  }
}

/** What becomes of one packet a persistent session has queued: kept, stored with this payload instead, or removed. */
export type QueuedVerdict = 'keep' | 'remove' | { readonly payload: Buffer };

/** The keys of the LevelDB (abstract-level) database aedes-persistence-level runs on. */
export interface QueueKeys {
  keys(range: { gte: string; lt: string }): AsyncIterable<string>;
  batch(ops: { type: 'del'; key: string }[]): Promise<void>;
}

/**
 * Judges every QoS 1/2 PUBLISH that any persistent session of the broker has queued
 * (sent and unacknowledged, or waiting for the client to return) and removes or rewrites
 * it as `judge` says; for an erasure (broker/erasure.ts). aedes-persistence-level 9.2.0
 * (lib asyncPersistence.js) keeps such a packet under `outgoing:<client>:<brokerId>:<counter>`
 * and, once it has been given a message id, a copy under `outgoing-id:<client>:<message id>`,
 * the client id URI-encoded and the numbers zero-padded to 16 digits. It offers no way to
 * drop one packet of a queue (outgoingClearMessageId finds a packet by its message id,
 * which one queued while its client was away does not have), so the clients are read from
 * the keys, their packets through outgoingStream (decoded by the persistence), removals
 * are deletes of both keys, and a rewrite stores the packet again as aedes does:
 * outgoingUpdate once it has a message id (both keys), outgoingEnqueueCombi before (the
 * same key, as its broker id and counter are kept).
 *
 * A client that reconnects meanwhile may be sent a packet as it was read just before;
 * it is then acknowledged and deleted as usual. The deleted bytes stay in LevelDB's
 * files until it compacts them (broker/erasure.ts compacts after this).
 * tests/privacy/broker-queue.test.ts runs this on aedes-persistence-level and fails
 * when its layout no longer matches.
 */
export async function reviseQueued(
  db: QueueKeys,
  persistence: AedesPersistence,
  judge: (packet: { readonly topic: string; readonly payload: Buffer }) => QueuedVerdict,
): Promise<{ removed: number; rewritten: number }> {
  const clients = new Set<string>();
  for await (const key of db.keys({ gte: OUTGOING, lt: OUTGOING_END })) {
    const end = key.indexOf(':', OUTGOING.length);
    if (end > 0) clients.add(decodeURIComponent(key.slice(OUTGOING.length, end)));
  }
  let removed = 0;
  let rewritten = 0;
  for (const id of clients) {
    const client = { id };
    for await (const packet of persistence.outgoingStream(client)) {
      if (packet.cmd !== 'publish' || packet.topic === undefined || packet.payload === undefined) continue;
      const verdict = judge({ topic: packet.topic, payload: packet.payload });
      if (verdict === 'keep') continue;
      if (verdict === 'remove') {
        const ops = [{ type: 'del' as const, key: `${OUTGOING}${encodeURIComponent(id)}:${packet.brokerId}:${padded(packet.brokerCounter)}` }];
        if (packet.messageId !== undefined) ops.push({ type: 'del', key: `${OUTGOING_ID}${encodeURIComponent(id)}:${padded(packet.messageId)}` });
        await db.batch(ops);
        removed++;
        continue;
      }
      // outgoingStream flags a packet that has a message id as a redelivery; it is stored as it was.
      const revised = { ...packet, payload: verdict.payload, dup: false };
      if (packet.messageId !== undefined) await persistence.outgoingUpdate(client, revised);
      else await persistence.outgoingEnqueueCombi([{ clientId: id, topic: packet.topic, qos: 1 }], revised);
      rewritten++;
    }
  }
  return { removed, rewritten };
}

const OUTGOING = 'outgoing:';
// Every key under OUTGOING sorts before this (';' follows ':'); OUTGOING_ID's do not match it.
const OUTGOING_END = 'outgoing;';
const OUTGOING_ID = 'outgoing-id:';
const padded = (n: number | undefined): string => String(n).padStart(16, '0');

// CONNACK, section 3.2: 0x20, Remaining Length 2, acknowledge flags, return code.
const CONNACK = 0x20;
const SESSION_PRESENT = 0x01;

/**
 * [MQTT-3.2.2-2] Sets Session Present in the CONNACK aedes writes on `conn` when
 * `present()` says so. aedes 1.2.0 answers 1 only when the stored session has
 * subscriptions (lib/handlers/connect.js, `!!arg.subs`), but a session exists from a
 * CleanSession 0 CONNECT on, subscriptions or not, and aedes offers no hook between
 * deciding the flag and writing it, so the third byte on the wire is corrected instead.
 * Only the first packet written is looked at; after it `conn.write` is the original.
 */
export function correctSessionPresent(conn: Duplex, present: () => boolean): void {
  const write = conn.write;
  let offset = 0; // bytes of the first packet seen so far
  let isConnack = false;
  const patched = function (this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
    if (Buffer.isBuffer(chunk) && chunk.length > 0) {
      if (offset === 0) isConnack = chunk[0] === CONNACK;
      const flagsAt = 2 - offset;
      if (isConnack && flagsAt >= 0 && flagsAt < chunk.length && present()) {
        chunk = Buffer.from(chunk);
        (chunk as Buffer)[flagsAt] = (chunk as Buffer)[flagsAt]! | SESSION_PRESENT;
      }
      offset += chunk instanceof Buffer ? chunk.length : 0;
      if (!isConnack || offset > 2) conn.write = write;
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  };
  conn.write = patched as Duplex['write'];
}
