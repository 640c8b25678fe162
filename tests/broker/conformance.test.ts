import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDirectory } from '../../kernel/ports.js';
import { persistenceOf } from '../../broker/aedes-compat.js';
import {
  DEVICES,
  LIMITS,
  closed,
  connect,
  connectBytes,
  endClient,
  fakeDirectory,
  frame,
  publishBytes,
  rawConnection,
  recordingSink,
  startBroker,
  str,
  subscribeBytes,
  type RawConnection,
  type Started,
} from './harness.js';

/**
 * MQTT 3.1.1 rules that plain aedes 1.2.0 breaks (each was probed against it from
 * outside with hand-made packets) and that the hub enforces itself.
 */

const [fall, dispenser] = DEVICES as [(typeof DEVICES)[0], (typeof DEVICES)[0]];
const FALL_TOPIC = `devices/${fall.id}/events`;
const DISCONNECT = Buffer.from([0xe0, 0x00]);

let directory: DeviceDirectory;
beforeAll(async () => {
  directory = await fakeDirectory();
});

let started: Started | undefined;
const raws: RawConnection[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  raws.splice(0).forEach((r) => r.socket.destroy());
  await Promise.all(clients.splice(0).map(endClient));
  await started?.broker.close();
  started = undefined;
});

async function raw(): Promise<RawConnection> {
  const r = await rawConnection(started!.port);
  raws.push(r);
  return r;
}

/** CONNECT as the fall sensor; resolves with the CONNACK's [flags, return code]. */
async function connackOf(r: RawConnection, opts: { clientId: string; clean: boolean }): Promise<[number, number]> {
  r.socket.write(connectBytes({ ...opts, username: fall.id, password: fall.secret }));
  const ack = await r.bytes(4);
  expect(ack[0]).toBe(0x20);
  return [ack[2]!, ack[3]!];
}

/** A connected raw session of the fall sensor (CONNACK read). */
async function session(clientId = 'raw-1'): Promise<RawConnection> {
  const r = await raw();
  expect(await connackOf(r, { clientId, clean: true })).toEqual([0, 0]);
  return r;
}

const ILL_FORMED = Buffer.from([0xc3, 0x28]); // a lead byte followed by a non-continuation byte

describe('[MQTT-1.5.3-1] ill-formed UTF-8 closes the connection (aedes would read it as U+FFFD)', () => {
  it('in a PUBLISH topic name: closed, nothing reaches the sink', async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory, sink: recorder.sink });
    const r = await session();
    r.socket.write(publishBytes(Buffer.concat([Buffer.from(`devices/${fall.id}`), ILL_FORMED, Buffer.from('/events')]), '{}'));
    await r.closed();
    expect(recorder.messages).toHaveLength(0);
    expect(started.log.lines.some((l) => l.event === 'frame_refused' && l.code === 'STRING_INVALID')).toBe(true);
  });

  it('in a SUBSCRIBE topic filter: closed without a SUBACK', async () => {
    started = await startBroker({ directory });
    const r = await session();
    const before = r.received().length;
    r.socket.write(subscribeBytes([Buffer.concat([Buffer.from(`devices/${fall.id}/`), ILL_FORMED])]));
    expect((await r.closed()).length).toBe(before);
  });

  it('in the client id of a CONNECT: closed without a CONNACK', async () => {
    started = await startBroker({ directory });
    const r = await raw();
    r.socket.write(connectBytes({ clientId: ILL_FORMED, username: fall.id, password: fall.secret, clean: true }));
    expect((await r.closed()).length).toBe(0);
  });

  it('a well-formed non-ASCII client id is fine', async () => {
    started = await startBroker({ directory });
    const r = await raw();
    r.socket.write(connectBytes({ clientId: 'Østersund-ÆØÅ', username: fall.id, password: fall.secret, clean: true }));
    expect([...(await r.bytes(4))]).toEqual([0x20, 0x02, 0x00, 0x00]);
  });
});

describe('[MQTT-4.7.3-1] topic names and filters are at least one character long', () => {
  it('refuses a CONNECT whose will topic is empty: no accepting CONNACK, connection closed', async () => {
    started = await startBroker({ directory });
    const r = await raw();
    r.socket.write(connectBytes({ clientId: 'w-1', username: fall.id, password: fall.secret, will: { topic: '', payload: Buffer.from('x') }, clean: true }));
    const reply = await r.closed();
    // Either closed at once or after a refusing CONNACK; never return code 0.
    if (reply.length > 0) expect(reply[3]).not.toBe(0);
  });

  it('closes on a PUBLISH with an empty topic name', async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory, sink: recorder.sink });
    const r = await session();
    r.socket.write(publishBytes('', '{}'));
    await r.closed();
    expect(recorder.messages).toHaveLength(0);
  });
});

describe('[MQTT-3.2.2-2] Session Present reports a stored session even when it has no subscriptions', () => {
  it('is 1 on reconnecting to a CleanSession 0 session, 0 after a CleanSession 1 connect discarded it [MQTT-3.1.2-6]', async () => {
    started = await startBroker({ directory });
    const flagsOf = async (clean: boolean): Promise<number> => {
      const r = await raw();
      const [flags, rc] = await connackOf(r, { clientId: 'sess-1', clean });
      expect(rc).toBe(0);
      r.socket.write(DISCONNECT);
      await r.closed();
      return flags;
    };
    expect(await flagsOf(false)).toBe(0); // [MQTT-3.2.2-3] no session stored yet
    expect(await flagsOf(false)).toBe(1); // the session from the first connect, with no subscriptions
    expect(await flagsOf(true)).toBe(0); // [MQTT-3.2.2-1] CleanSession 1: always 0, and the session is gone
    expect(await flagsOf(false)).toBe(0);
    expect(await flagsOf(false)).toBe(1);
  });

  it('is 0 on a refused CONNECT [MQTT-3.2.2-4]', async () => {
    started = await startBroker({ directory });
    const first = await raw();
    await connackOf(first, { clientId: 'sess-2', clean: false });
    first.socket.write(DISCONNECT);
    await first.closed();
    const r = await raw();
    r.socket.write(connectBytes({ clientId: 'sess-2', username: fall.id, password: 'wrong', clean: false }));
    expect([...(await r.bytes(4))]).toEqual([0x20, 0x02, 0x00, 0x04]);
  });
});

describe('topic length and depth are bounded', () => {
  it(`closes on a topic name or filter longer than ${LIMITS.maxTopicLength} bytes`, async () => {
    started = await startBroker({ directory });
    const long = `devices/${fall.id}/${'x'.repeat(LIMITS.maxTopicLength)}`;
    const publisher = await session('long-1');
    publisher.socket.write(publishBytes(long, '{}'));
    await publisher.closed();
    const subscriber = await session('long-2');
    subscriber.socket.write(subscribeBytes([long]));
    await subscriber.closed();
    expect(started.log.lines.filter((l) => l.code === 'TOPIC_TOO_LONG')).toHaveLength(2);
  });

  it(`closes on a topic name or filter deeper than ${LIMITS.maxTopicLevels} levels`, async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory, sink: recorder.sink });
    const deep = Array.from({ length: LIMITS.maxTopicLevels + 1 }, (_, i) => `l${i}`).join('/');
    const publisher = await session('deep-1');
    publisher.socket.write(publishBytes(deep, '{}'));
    await publisher.closed();
    const subscriber = await session('deep-2');
    subscriber.socket.write(subscribeBytes([deep]));
    await subscriber.closed();
    expect(recorder.messages).toHaveLength(0);
  });

  it('UNSUBSCRIBE filters are checked like SUBSCRIBE filters', async () => {
    started = await startBroker({ directory });
    const r = await session();
    const before = r.received().length;
    r.socket.write(frame(0xa2, Buffer.from([0, 7]), str(Buffer.concat([Buffer.from('devices/'), ILL_FORMED]))));
    expect((await r.closed()).length).toBe(before); // no UNSUBACK
  });
});

describe('a refused filter is not kept in a persistent session', () => {
  it('stores only the granted filter of a SUBSCRIBE that mixes refused and granted ones', async () => {
    started = await startBroker({ directory });
    const c = await connect(`mqtt://127.0.0.1:${started.port}`, { username: fall.id, password: fall.secret, clientId: 'persist-1', clean: false });
    clients.push(c);
    const granted = await c
      .subscribeAsync(['#', `devices/${fall.id}/commands`, 'devices/+/events'], { qos: 1 })
      .catch((e: { packet?: { granted: number[] } }) => e.packet?.granted);
    expect(Array.isArray(granted) ? granted.map((g) => (typeof g === 'number' ? g : g.qos)) : granted).toEqual([128, 1, 128]);
    const persistence = persistenceOf(started.broker.aedes);
    expect((await persistence.subscriptionsByClient({ id: 'persist-1' })).map((s) => s.topic)).toEqual([`devices/${fall.id}/commands`]);
    // So nothing of another device is queued for this session.
    expect(await persistence.subscriptionsByTopic(`devices/${dispenser.id}/events`)).toEqual([]);
    await endClient(c);
    await closed(c);
  });
});

describe('packets aedes 1.2.0 accepts against the rules', () => {
  it('[MQTT-3.10.3-2] an UNSUBSCRIBE without a topic filter closes the connection, without an UNSUBACK', async () => {
    started = await startBroker({ directory });
    const r = await session();
    const before = r.received().length;
    r.socket.write(frame(0xa2, Buffer.from([0, 7])));
    expect((await r.closed()).length).toBe(before);
    expect(started.log.lines.some((l) => l.event === 'frame_refused' && l.code === 'FRAME_MALFORMED')).toBe(true);
  });

  it('[MQTT-3.8.3-3] a SUBSCRIBE without a topic filter closes the connection, without a SUBACK', async () => {
    started = await startBroker({ directory });
    const r = await session();
    const before = r.received().length;
    r.socket.write(frame(0x82, Buffer.from([0, 7])));
    expect((await r.closed()).length).toBe(before);
  });

  it('[MQTT-3.1.2-14] a CONNECT with will QoS 3 is closed without a CONNACK, and its will is never published', async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory, sink: recorder.sink });
    const r = await raw();
    const will = { topic: FALL_TOPIC, payload: Buffer.from('{"event":"fall"}') };
    r.socket.write(connectBytes({ clientId: 'will-3', username: fall.id, password: fall.secret, clean: true, will, willQos: 3 }));
    expect((await r.closed()).length).toBe(0);
    expect(recorder.messages).toHaveLength(0);
  });
});

describe('delivery to a persistent session', () => {
  const COMMANDS = `devices/${fall.id}/commands`;
  const publishCommand = (qos: 1 | 2): Promise<void> =>
    new Promise((resolve) =>
      started!.broker.aedes.publish({ cmd: 'publish', topic: COMMANDS, payload: Buffer.from('{"do":"ping"}'), qos, retain: false, dup: false }, () =>
        resolve(),
      ),
    );
  async function outgoing(clientId: string): Promise<unknown[]> {
    const out: unknown[] = [];
    for await (const p of persistenceOf(started!.broker.aedes).outgoingStream({ id: clientId })) out.push(p);
    return out;
  }

  it('[MQTT-3.3.1-1] a PUBLISH re-delivered after a reconnect carries DUP=1; the first delivery DUP=0', async () => {
    started = await startBroker({ directory });
    const first = await raw();
    expect(await connackOf(first, { clientId: 'dup-1', clean: false })).toEqual([0, 0]);
    first.socket.write(subscribeBytes([COMMANDS]));
    expect([...(await first.bytes(4 + 5)).subarray(4, 9)]).toEqual([0x90, 3, 0, 1, 1]);
    await publishCommand(1);
    const sent = (await first.bytes(10)).subarray(9);
    expect(sent[0]).toBe(0x32); // PUBLISH, QoS 1, DUP 0
    first.socket.destroy(); // no PUBACK: the broker must send it again
    await expect.poll(async () => (await outgoing('dup-1')).length).toBe(1);

    const again = await raw();
    expect(await connackOf(again, { clientId: 'dup-1', clean: false })).toEqual([1, 0]);
    const resent = (await again.bytes(5)).subarray(4);
    expect(resent[0]).toBe(0x3a); // PUBLISH, QoS 1, DUP 1
  });

  it('[MQTT-4.3.3] a QoS 2 message to a persistent session completes (PUBREC, PUBREL, PUBCOMP) without closing the connection', async () => {
    started = await startBroker({ directory });
    const c = await connect(`mqtt://127.0.0.1:${started.port}`, { username: fall.id, password: fall.secret, clientId: 'qos2-1', clean: false });
    clients.push(c);
    let closes = 0;
    c.on('close', () => void (closes += 1));
    const received: string[] = [];
    c.on('message', (_topic, payload) => received.push(payload.toString()));
    await c.subscribeAsync(COMMANDS, { qos: 2 });
    await publishCommand(2);
    await expect.poll(() => received).toEqual(['{"do":"ping"}']);
    // PUBCOMP clears the PUBREL the broker kept for the session.
    await expect.poll(() => outgoing('qos2-1')).toEqual([]);
    expect(closes).toBe(0);
  });
});
