import { Readable } from 'node:stream';
import type { AedesPersistence, OutgoingPacket } from './types.js';

/**
 * aedes numbers a client's outgoing QoS 1 packets from a counter that starts anywhere
 * (lib/client.js) on every connection, while packets resent from a persistent session
 * keep the ids they were first sent with (lib/qos-packet.js), and the persistence finds
 * a packet to clear by (client, id) alone. After a reconnect a new packet can therefore
 * get the id of an old one still awaiting its PUBACK; that PUBACK then clears the new
 * packet, which is never delivered: acknowledged to its device, lost (seen once in
 * several runs of the split layout's SIGTERM test). A packet whose id is held by another
 * packet of the same client is given the next free id before it is stored and sent.
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
 * [MQTT-3.3.1-1] The DUP flag must be 1 on a PUBLISH the server re-delivers. aedes
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
