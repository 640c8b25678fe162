import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aedes } from 'aedes';
import aedesPersistenceLevel from 'aedes-persistence-level';
import { ClassicLevel } from 'classic-level';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { patchPersistence, persistenceOf, reviseQueued, type AedesPersistence } from '../../broker/aedes-compat.js';
import { compactAll } from '../../broker/erasure.js';
import { until } from '../helpers/poll.js';
import { levelDbFilesHolding } from './leveldb-files.js';

/**
 * broker/aedes-compat.ts reviseQueued and broker/erasure.ts compactAll on aedes with
 * aedes-persistence-level, as the split broker runs them: packets of a persistent
 * session, some sent and unacknowledged when it went (they have a message id), some
 * queued while it was away (none yet), are removed, rewritten or kept; the removed ones'
 * bytes leave LevelDB's files once compacted, and the session then receives exactly the
 * rewritten and kept ones, in order.
 */
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(): Promise<{ port: number; db: ClassicLevel<string, string>; dir: string; persistence: AedesPersistence }> {
  const dir = mkdtempSync(join(tmpdir(), 'arena-broker-queue-'));
  const db = new ClassicLevel<string, string>(dir);
  await db.open();
  cleanups.push(async () => {
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const aedes = await Aedes.createBroker({ persistence: aedesPersistenceLevel(db) as AedesPersistence });
  const persistence = persistenceOf(aedes);
  patchPersistence(persistence, () => true);
  const server: Server = createServer((socket) => aedes.handle(socket));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    await new Promise<void>((r) => aedes.close(() => r()));
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as { port: number }).port, db, dir, persistence };
}

/** The persistent session `sub`, connected; `ack` false: it takes messages and acknowledges none. */
async function session(port: number, received: string[], ack: boolean): Promise<MqttClient> {
  const c = mqtt.connect({ host: '127.0.0.1', port, clientId: 'sub', clean: false, reconnectPeriod: 0 });
  c.handleMessage = (packet, callback) => {
    received.push(packet.payload.toString());
    if (ack) callback();
  };
  cleanups.push(() => new Promise<void>((r) => c.end(true, {}, () => r())));
  await new Promise((r) => c.once('connect', r));
  return c;
}

describe("a persistent session's queue revised for an erasure", () => {
  it('removes, rewrites and keeps packets with and without a message id; the removed leave no bytes, the rest arrive in order', async () => {
    const b = await broker();
    const publisher = mqtt.connect({ host: '127.0.0.1', port: b.port, clientId: 'pub', reconnectPeriod: 0 });
    cleanups.push(() => new Promise<void>((r) => publisher.end(true, {}, () => r())));
    await new Promise((r) => publisher.once('connect', r));
    const send = (payload: string) => publisher.publishAsync('q/1', payload, { qos: 1 });

    const taken: string[] = [];
    const first = await session(b.port, taken, false);
    await first.subscribeAsync('q/#', { qos: 1 });
    for (const p of ['sent-gone-7781', 'sent-redo-7782', 'sent-kept-7783']) await send(p);
    // mqtt.js reads the next message only once one is acknowledged: the first arrives, all three are sent.
    await until('the first is taken', () => taken.length === 1);
    await new Promise<void>((r) => first.end(true, {}, () => r()));
    for (const p of ['queued-redo-7784', 'queued-gone-7785', 'queued-kept-7786']) await send(p);

    const verdicts: Record<string, 'keep' | 'remove' | { payload: Buffer }> = {
      'sent-gone-7781': 'remove',
      'sent-redo-7782': { payload: Buffer.from('sent-rewritten') },
      'queued-redo-7784': { payload: Buffer.from('queued-rewritten') },
      'queued-gone-7785': 'remove',
    };
    const revised = await reviseQueued(b.db, b.persistence, (packet) => verdicts[packet.payload.toString()] ?? 'keep');
    expect(revised).toEqual({ removed: 2, rewritten: 2 });
    await compactAll(b.db);
    for (const gone of ['sent-gone-7781', 'sent-redo-7782', 'queued-redo-7784', 'queued-gone-7785']) expect(levelDbFilesHolding(b.dir, gone), gone).toEqual([]);
    expect(levelDbFilesHolding(b.dir, 'queued-kept-7786')).not.toEqual([]);

    const delivered: string[] = [];
    await session(b.port, delivered, true);
    await until('the revised queue is delivered', () => delivered.length >= 4);
    expect(delivered).toEqual(['sent-rewritten', 'sent-kept-7783', 'queued-rewritten', 'queued-kept-7786']);
  });
});
