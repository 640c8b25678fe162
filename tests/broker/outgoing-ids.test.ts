import { describe, expect, it } from 'vitest';
import { uniqueOutgoingIds } from '../../broker/outgoing-ids.js';
import type { AedesPersistence, OutgoingPacket } from '../../broker/types.js';

/** A persistence that keeps packets by (client, message id), as aedes-persistence-level does. */
function byIdPersistence(): AedesPersistence & { byId: Map<string, OutgoingPacket> } {
  const byId = new Map<string, OutgoingPacket>();
  return {
    byId,
    subscriptionsByTopic: async () => [],
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

describe('outgoing message ids of a persistent session', () => {
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
