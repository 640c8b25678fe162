import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHandoffConsumer, type HandoffConsumer } from '../../ingest/handoff-consumer.js';
import { HANDOFF_SHARDS, decodeHandoff, encodeHandoff, handoffTopic, shardOf } from '../../kernel/handoff.js';
import { createLogger } from '../../kernel/log.js';
import type { DeviceDirectory } from '../../kernel/ports.js';
import { hashSecret } from '../../kernel/secrets.js';
import type { InboundMessage, RejectionCode } from '../../kernel/telemetry.js';
import { DEVICES, SERVICE, connect, endClient, fakeDirectory, sleep, startBroker, type Started } from '../broker/harness.js';

/** The broker ↔ ingest handoff of the split layout, in one process (processes: layout.test.ts). */

describe('the handoff envelope (kernel/handoff.ts)', () => {
  it('carries kind, receive time, topic and payload byte for byte', () => {
    const payload = Buffer.from([0, 0xff, 0x7b, 0x0a]);
    const h = { kind: 'PAYLOAD_TOO_LARGE' as const, deviceId: 'AQ-1', topic: 'devices/AQ-1/measurements', payload, receivedAt: 1_750_000_000_123 };
    expect(decodeHandoff(handoffTopic('AQ-1'), encodeHandoff(h))).toEqual(h);
    expect(decodeHandoff('devices/AQ-1/measurements', encodeHandoff(h))).toBeUndefined();
    expect(decodeHandoff(handoffTopic('AQ-1'), Buffer.from([0, 1]))).toBeUndefined();
  });

  it('puts a device always on the same shard, and spreads devices', () => {
    const shards = new Set(Array.from({ length: 200 }, (_, i) => shardOf(`DEV-${i}`)));
    expect(shardOf('AQ-3001')).toBe(shardOf('AQ-3001'));
    expect([...shards].every((s) => s >= 0 && s < HANDOFF_SHARDS)).toBe(true);
    expect(shards.size).toBe(HANDOFF_SHARDS);
  });
});

const [fall] = DEVICES as [(typeof DEVICES)[0]];
const TOPIC = `devices/${fall.id}/events`;

let directory: DeviceDirectory;
let serviceHash: string;
beforeAll(async () => {
  directory = await fakeDirectory();
  serviceHash = await hashSecret(SERVICE.secret);
});

let started: Started | undefined;
let consumer: HandoffConsumer | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map(endClient));
  await consumer?.stop();
  consumer = undefined;
  await started?.broker.close();
  started = undefined;
});

/** A fake ingest: records what it commits; `failNext` makes the next commit fail. */
function fakeIngest() {
  const committed: { kind: string; m: InboundMessage }[] = [];
  const state = {
    committed,
    calls: 0,
    failNext: 0,
    accept: async (m: InboundMessage): Promise<void> => {
      state.calls++;
      if (state.failNext > 0) {
        state.failNext--;
        throw new Error('store down');
      }
      committed.push({ kind: 'message', m });
    },
    reject: async (m: InboundMessage, code: RejectionCode): Promise<void> => {
      state.calls++;
      committed.push({ kind: code, m });
    },
  };
  return state;
}

async function split(ingest: ReturnType<typeof fakeIngest>) {
  started = await startBroker({ directory, handoff: true, serviceAccount: { username: SERVICE.username, secretHash: serviceHash } });
  const opened = startHandoffConsumer({
    url: `mqtt://127.0.0.1:${started.port}`,
    username: SERVICE.username,
    password: SERVICE.secret,
    clientIdPrefix: 'ingest-test',
    ingest,
    logger: createLogger('silent'),
    reconnectMs: 100,
  });
  consumer = opened;
  await Promise.all(Array.from({ length: HANDOFF_SHARDS }, (_, shard) => opened.open(shard)));
  const device = await connect(`mqtt://127.0.0.1:${started.port}`, { username: fall.id, password: fall.secret, clientId: 'dev' });
  clients.push(device);
  return device;
}

describe('handing off to ingest', () => {
  it('delivers each message with the authenticated device id and the broker receive time, in order', async () => {
    const ingest = fakeIngest();
    const device = await split(ingest);
    for (let i = 0; i < 20; i++) await device.publishAsync(TOPIC, `m-${i}`, { qos: 1 });
    await expect.poll(() => ingest.committed.length).toBe(20);
    expect(ingest.committed.map((c) => c.m.payload.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `m-${i}`));
    expect(ingest.committed.every((c) => c.kind === 'message' && c.m.deviceId === fall.id && c.m.topic === TOPIC)).toBe(true);
    expect(Math.abs(ingest.committed[0]!.m.receivedAt - Date.now())).toBeLessThan(10_000);
  });

  it('does not acknowledge a failed commit: the broker sends it again after ingest reconnects', async () => {
    const ingest = fakeIngest();
    ingest.failNext = 1;
    const device = await split(ingest);
    await device.publishAsync(TOPIC, 'precious', { qos: 1 });
    await expect.poll(() => ingest.committed.map((c) => c.m.payload.toString()), { timeout: 10_000 }).toEqual(['precious']);
    expect(ingest.calls).toBe(2); // the failed try, then the redelivery
  });

  it('hands refusals over as rejections of the device', async () => {
    const ingest = fakeIngest();
    const device = await split(ingest);
    await device.publishAsync(TOPIC, Buffer.alloc(2000, 0x61), { qos: 1 }); // over the harness's 1 KiB payload limit
    await expect.poll(() => ingest.committed.map((c) => [c.kind, c.m.deviceId, c.m.payload.length])).toEqual([['PAYLOAD_TOO_LARGE', fall.id, 2000]]);
  });

  it('stops gracefully: what is being committed is finished and acknowledged, nothing more is taken', async () => {
    const ingest = fakeIngest();
    const device = await split(ingest);
    await device.publishAsync(TOPIC, 'before', { qos: 1 });
    await expect.poll(() => ingest.committed.length).toBe(1);
    await consumer!.stop();
    consumer = undefined;
    await device.publishAsync(TOPIC, 'while ingest is away', { qos: 1 }); // queued in ingest's session
    // Waits out a delivery to the stopped consumer, which must not come: an absence, not a condition to poll.
    await sleep(100);
    expect(ingest.committed).toHaveLength(1);
  });
});
