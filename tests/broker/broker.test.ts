import { connect as tcpConnect, type Socket } from 'node:net';
import type { MqttClient, IClientOptions } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../kernel/secrets.js';
import type { DeviceDirectory } from '../../kernel/ports.js';
import type { BrokerDeps } from '../../broker/broker.js';
import {
  DEVICES,
  LIMITS,
  SERVICE,
  closed,
  connect,
  connectBytes,
  endClient,
  fakeDirectory,
  holding,
  recordingSink,
  releaseAll,
  sleep,
  startBroker,
  subackCodes,
  varint,
  type Rejected,
  type Started,
} from './harness.js';

const [fall, dispenser, , retired] = DEVICES as [(typeof DEVICES)[0], (typeof DEVICES)[0], unknown, (typeof DEVICES)[0]];
const FALL_TOPIC = `devices/${fall.id}/events`;
const payload = JSON.stringify({ sensor: fall.id, time: Date.now(), event: { type: 'FALL_DETECTED', confidence: 0.9 } });

let directory: DeviceDirectory & { fail: boolean };
let serviceHash: string;
beforeAll(async () => {
  directory = await fakeDirectory();
  serviceHash = await hashSecret(SERVICE.secret);
});

let started: Started | undefined;
const clients: MqttClient[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  releaseAll();
  directory.fail = false;
  await Promise.all(clients.splice(0).map(endClient));
  sockets.splice(0).forEach((s) => s.destroy());
  await started?.broker.close();
  started = undefined;
});

async function start(extra: Partial<BrokerDeps> = {}): Promise<Started> {
  started = await startBroker({ directory, serviceAccount: { username: SERVICE.username, secretHash: serviceHash }, ...extra });
  return started;
}

async function device(d: { id: string; secret: string }, opts: IClientOptions = {}, ws = false): Promise<MqttClient> {
  const url = ws ? `ws://127.0.0.1:${started!.wsPort}/mqtt` : `mqtt://127.0.0.1:${started!.port}`;
  const c = await connect(url, { username: d.id, password: d.secret, clientId: `c-${d.id}`, ...opts });
  clients.push(c);
  return c;
}

const service = () => device({ id: SERVICE.username, secret: SERVICE.secret });

/** The CONNACK return code the broker answers with (0 = accepted). */
async function connackCode(username: string, password: string, opts: IClientOptions = {}): Promise<number> {
  try {
    await device({ id: username, secret: password }, opts);
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

/** Raw TCP: resolves with every byte the broker sent once it closes the connection. */
function rawExchange(port: number, bytes: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect(port, '127.0.0.1');
    sockets.push(s);
    const got: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error('broker kept the connection open')), 5000);
    s.on('data', (d) => got.push(d));
    s.on('error', () => undefined);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(got));
    });
    s.on('connect', () => bytes.forEach((b) => s.write(b)));
  });
}

describe('authentication', () => {
  it('accepts the right secret and refuses a wrong secret and an unknown device alike (CONNACK 4)', async () => {
    await start();
    expect(await connackCode(fall.id, fall.secret)).toBe(0);
    expect(await connackCode(fall.id, 'wrong')).toBe(4);
    expect(await connackCode('NO-SUCH-DEVICE', 'wrong')).toBe(4);
    expect(await connackCode(retired.id, retired.secret)).toBe(4);
    expect(await connackCode('not/a+device', 'x')).toBe(4);
  });

  it('never logs the password', async () => {
    const { log } = await start();
    await connackCode(fall.id, 'hunter2-wrong-secret');
    const refusal = log.lines.find((l) => l.event === 'connect_refused');
    expect(refusal).toMatchObject({ component: 'broker', username: fall.id, returnCode: 4, reason: 'wrong device secret' });
    expect(log.text.join('')).not.toContain('hunter2');
  });

  it('fails closed when the directory throws (CONNACK 3)', async () => {
    await start();
    directory.fail = true;
    expect(await connackCode(fall.id, fall.secret)).toBe(3);
  });

  it('refuses an empty client id with clean session 0 with CONNACK 2 [MQTT-3.1.3-8]', async () => {
    const { port } = await start();
    const reply = await rawExchange(port, [connectBytes({ clientId: '', username: fall.id, password: fall.secret, clean: false })]);
    expect([...reply]).toEqual([0x20, 0x02, 0x00, 0x02]);
    // with clean session 1 an empty client id is fine [MQTT-3.1.3-6]
    expect(await connackCode(fall.id, fall.secret, { clientId: '', clean: true })).toBe(0);
  });

  it('does not let another device take over a connected client id', async () => {
    await start();
    const first = await device(fall, { clientId: 'shared-id' });
    expect(await connackCode(dispenser.id, dispenser.secret, { clientId: 'shared-id' })).toBe(2);
    expect(first.connected).toBe(true);
  });

  it('refuses a will on a topic that is not the device own (CONNACK 5) and sends an allowed will to the sink', async () => {
    const recorder = recordingSink();
    await start({ sink: recorder.sink });
    const foreign = { topic: `devices/${dispenser.id}/events`, payload: Buffer.from('{}'), qos: 1 as const, retain: false };
    expect(await connackCode(fall.id, fall.secret, { will: foreign })).toBe(5);

    const will = { topic: FALL_TOPIC, payload: Buffer.from(payload), qos: 1 as const, retain: false };
    const c = await device(fall, { will });
    c.stream.destroy(); // connection lost without DISCONNECT: the will is published [MQTT-3.1.2-8]
    await expect.poll(() => recorder.messages.map((m) => m.topic)).toEqual([FALL_TOPIC]);
    expect(recorder.messages[0]!.deviceId).toBe(fall.id);
  });
});

describe('publish', () => {
  it.each([
    [1, 'puback'],
    [2, 'pubrec'],
  ] as const)('sends the QoS %i acknowledgement (%s) only after the sink resolved', async (qos, ackCmd) => {
    const recorder = recordingSink();
    await start({ sink: recorder.sink });
    const c = await device(fall);
    const pubacks: number[] = [];
    c.on('packetreceive', (p) => p.cmd === ackCmd && pubacks.push(Date.now()));

    recorder.hold();
    const acked = c.publishAsync(FALL_TOPIC, payload, { qos });
    await recorder.nextCall;
    // Waits out the loopback round trip an early acknowledgement would take; that none
    // comes is an absence, which no poll can wait for.
    await sleep(200);
    expect(pubacks).toHaveLength(0);
    expect(recorder.messages).toHaveLength(0);

    recorder.release();
    await acked;
    expect(pubacks).toHaveLength(1);
    expect(recorder.messages).toMatchObject([{ deviceId: fall.id, topic: FALL_TOPIC, payload: Buffer.from(payload) }]);
    expect(Math.abs(recorder.messages[0]!.receivedAt - Date.now())).toBeLessThan(5000);
  });

  it('acknowledges in publish order even when the sink commits out of order', async () => {
    const calls: { topic: string; release: () => void }[] = [];
    const sink = (m: { payload: Buffer }) =>
      new Promise<void>((release) => {
        calls.push({ topic: m.payload.toString(), release });
        holding(release);
      });
    await start({ sink });
    const c = await device(fall);
    const sent: number[] = [];
    const acked: number[] = [];
    c.on('packetsend', (p) => p.cmd === 'publish' && sent.push(p.messageId!));
    c.on('packetreceive', (p) => p.cmd === 'puback' && acked.push(p.messageId!));
    const both = Promise.all([c.publishAsync(FALL_TOPIC, 'first', { qos: 1 }), c.publishAsync(FALL_TOPIC, 'second', { qos: 1 })]);
    await expect.poll(() => calls.length).toBe(2); // both reach ingest concurrently
    calls[1]!.release();
    // Waits out the time the second PUBACK would need if it did not wait for the first: an absence, not a condition to poll.
    await sleep(100);
    expect(acked).toEqual([]); // the second waits for the first
    calls[0]!.release();
    await both;
    expect(acked).toEqual(sent);
  });

  it('disconnects a device that publishes on another device topic; nothing reaches the sink', async () => {
    const recorder = recordingSink();
    const rejected: Rejected[] = [];
    const { log } = await start({
      sink: recorder.sink,
      reject: async (deviceId, topic, code, p) => void rejected.push({ deviceId, topic, code, bytes: p.length }),
    });
    const c = await device(fall);
    c.publish(`devices/${dispenser.id}/events`, payload, { qos: 1 });
    await closed(c);
    expect(recorder.messages).toHaveLength(0);
    expect(rejected).toEqual([{ deviceId: fall.id, topic: `devices/${dispenser.id}/events`, code: 'TOPIC_NOT_ALLOWED', bytes: payload.length }]);
    expect(log.lines.some((l) => l.event === 'topic_spoofing' && l.deviceId === fall.id)).toBe(true);
  });

  it('acknowledges an oversized payload but hands it to reject, not to the sink or subscribers', async () => {
    const recorder = recordingSink();
    const rejected: Rejected[] = [];
    await start({
      sink: recorder.sink,
      reject: async (deviceId, topic, code, p) => void rejected.push({ deviceId, topic, code, bytes: p.length }),
    });
    const listener = await service();
    await listener.subscribeAsync('devices/+/events', { qos: 1 });
    const heard: string[] = [];
    listener.on('message', (topic) => heard.push(topic));

    const c = await device(fall);
    const big = Buffer.alloc(LIMITS.maxPayloadBytes + 1, 0x41);
    await c.publishAsync(FALL_TOPIC, big, { qos: 1 }); // PUBACK arrives: no endless resend
    await c.publishAsync(FALL_TOPIC, payload, { qos: 1 });
    await expect.poll(() => heard).toEqual([FALL_TOPIC]); // only the normal one
    expect(rejected).toEqual([{ deviceId: fall.id, topic: FALL_TOPIC, code: 'PAYLOAD_TOO_LARGE', bytes: big.length }]);
    expect(recorder.messages.map((m) => m.payload.length)).toEqual([payload.length]);
  });

  it('gives no PUBACK and disconnects when the sink fails (the device will redeliver)', async () => {
    const recorder = recordingSink();
    await start({ sink: recorder.sink });
    const c = await device(fall);
    let pubacks = 0;
    c.on('packetreceive', (p) => p.cmd === 'puback' && pubacks++);
    recorder.fail = true;
    c.publish(FALL_TOPIC, payload, { qos: 1 });
    await closed(c);
    expect(pubacks).toBe(0);
    expect(recorder.messages).toHaveLength(0);
  });

  it('closes the connection on U+0000 in a topic or filter [MQTT-1.5.3-2]', async () => {
    const recorder = recordingSink();
    const { port } = await start({ sink: recorder.sink });
    const publisher = await device(fall);
    publisher.publish(`devices/${fall.id}\u0000/events`, payload, { qos: 1 });
    await closed(publisher);
    const subscriber = await device(dispenser);
    subscriber.subscribe(`devices/${dispenser.id}/commands\u0000`, { qos: 1 });
    await closed(subscriber);
    expect(recorder.messages).toHaveLength(0);
    const reply = await rawExchange(port, [connectBytes({ clientId: 'a\u0000b', username: fall.id, password: fall.secret, clean: true })]);
    expect(reply.length).toBe(0); // closed without CONNACK
  });

  it('refuses a publish without a client session (a will from a dead cluster broker)', async () => {
    const { broker } = await start();
    const err = await new Promise<Error | null | undefined>((resolve) =>
      broker.aedes.authorizePublish(null, { cmd: 'publish', topic: FALL_TOPIC, payload: Buffer.from(payload), qos: 0, retain: false, dup: false }, resolve),
    );
    expect(err).toBeInstanceOf(Error);
  });
});

describe('subscribe and forward', () => {
  it('grants a device only its own command topic (SUBACK 128 otherwise) and forwards its commands', async () => {
    const { broker } = await start();
    const c = await device(fall);
    const filters = ['#', 'devices/+/events', `devices/${dispenser.id}/commands`, `devices/${fall.id}/commands`, `devices/${fall.id}/#`, '+/+/+'];
    expect(await subackCodes(c, filters)).toEqual([128, 128, 128, 1, 128, 128]);
    expect(c.connected).toBe(true);

    const heard: string[] = [];
    c.on('message', (topic) => heard.push(topic));
    for (const id of [dispenser.id, fall.id]) {
      await new Promise<void>((r) =>
        broker.aedes.publish({ cmd: 'publish', topic: `devices/${id}/commands`, payload: Buffer.from('{}'), qos: 1, retain: false, dup: false }, () => r()),
      );
    }
    await expect.poll(() => heard).toEqual([`devices/${fall.id}/commands`]);
  });

  it('lets the service account subscribe to device topics and receive messages, but never publish', async () => {
    await start();
    const listener = await service();
    const filters = ['devices/+/events', `devices/${fall.id}/senml`, '#', 'devices/#', 'devices/+/commands', '+/+/events', '$SYS/#'];
    expect(await subackCodes(listener, filters)).toEqual([1, 1, 128, 128, 128, 128, 128]);
    const heard: string[] = [];
    listener.on('message', (topic, p) => heard.push(`${topic} ${p.toString()}`));

    const c = await device(fall);
    await c.publishAsync(FALL_TOPIC, payload, { qos: 1 });
    await expect.poll(() => heard).toEqual([`${FALL_TOPIC} ${payload}`]);

    listener.publish(FALL_TOPIC, payload, { qos: 1 });
    await closed(listener);
    expect(heard).toHaveLength(1);
  });
});

describe('transports', () => {
  it('drops a raw connection that announces a 10 MB packet, before reading it', async () => {
    const { port } = await start();
    const reply = await rawExchange(port, [Buffer.from([0x30]), varint(10 * 1024 * 1024), Buffer.from('devices/x')]);
    expect(reply.length).toBe(0);
  });

  it('serves MQTT over WebSocket on /mqtt', async () => {
    const recorder = recordingSink();
    await start({ sink: recorder.sink });
    const c = await device(fall, {}, true);
    await c.publishAsync(FALL_TOPIC, payload, { qos: 1 });
    expect(recorder.messages).toHaveLength(1);
  });

  it('publishes the wills of connected devices at shutdown and waits for the sink before close() resolves', async () => {
    const recorder = recordingSink();
    const { broker } = await start({ sink: recorder.sink });
    await device(fall, { will: { topic: FALL_TOPIC, payload: Buffer.from(payload), qos: 1, retain: false } });
    recorder.hold();
    const closing = broker.close();
    await recorder.nextCall;
    let done = false;
    void closing.then(() => (done = true));
    // Waits out a close() that would not wait for the sink: that it does not resolve is an absence, not a condition to poll.
    await sleep(50);
    expect(done).toBe(false);
    recorder.release();
    await closing;
    expect(recorder.messages.map((m) => m.topic)).toEqual([FALL_TOPIC]);
  });

  it('closes with clients still connected and stops by itself', async () => {
    const { broker } = await start();
    const c = await device(fall);
    const overWs = await device(dispenser, {}, true);
    const half = tcpConnect(started!.port, '127.0.0.1'); // never sends CONNECT
    sockets.push(half);
    await new Promise((r) => half.once('connect', r));
    const halfClosed = new Promise((r) => half.once('close', r));
    await broker.close();
    await closed(c);
    await closed(overWs);
    await halfClosed;
    expect([c.connected, overWs.connected, half.destroyed || half.readyState === 'closed']).toEqual([false, false, true]);
  });
});
