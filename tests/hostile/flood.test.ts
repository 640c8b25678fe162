import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDirectory } from '../../kernel/ports.js';
import { DEVICES, connect, endClient, fakeDirectory, recordingSink, startBroker, type Started } from '../broker/harness.js';

/**
 * One device floods; the broker reads it more slowly (its messages wait for their turn,
 * none is dropped) while another device is served as usual. Asserted on counts and
 * order only: how fast is for the benchmarks.
 */

const [flooder, bystander] = DEVICES as [(typeof DEVICES)[0], (typeof DEVICES)[0]];
const RATE = { perSecond: 200, burst: 50 };
const FLOOD = 1000;

let directory: DeviceDirectory;
beforeAll(async () => {
  directory = await fakeDirectory();
});

let started: Started | undefined;
const clients: MqttClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map(endClient));
  await started?.broker.close();
  started = undefined;
});

const topicOf = (id: string): string => `devices/${id}/events`;

describe('a flooding device', () => {
  it('is slowed to its rate without losing a message, while another device is served in between', { timeout: 60_000 }, async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory, sink: recorder.sink, publishRate: RATE });
    const url = `mqtt://127.0.0.1:${started.port}`;
    const flood = await connect(url, { username: flooder.id, password: flooder.secret, clientId: 'flooder' });
    const calm = await connect(url, { username: bystander.id, password: bystander.secret, clientId: 'calm' });
    clients.push(flood, calm);

    // The flooder writes everything at once, QoS 0 (no acknowledgement to wait for), then one QoS 1.
    for (let i = 0; i < FLOOD; i++) flood.publish(topicOf(flooder.id), `flood-${i}`, { qos: 0 });
    const lastFlood = flood.publishAsync(topicOf(flooder.id), 'flood-last', { qos: 1 });

    const floodedWhenCalmWasServed: number[] = [];
    for (let i = 0; i < 10; i++) {
      await calm.publishAsync(topicOf(bystander.id), `calm-${i}`, { qos: 1 });
      floodedWhenCalmWasServed.push(recorder.messages.filter((m) => m.deviceId === flooder.id).length);
    }
    // Each of the calm device's messages was acknowledged while the flood was still waiting its turn.
    expect(floodedWhenCalmWasServed.every((n) => n < FLOOD)).toBe(true);

    await lastFlood;
    const flooded = recorder.messages.filter((m) => m.deviceId === flooder.id).map((m) => m.payload.toString());
    expect(flooded).toEqual([...Array.from({ length: FLOOD }, (_, i) => `flood-${i}`), 'flood-last']); // all, in order
    expect(flood.connected).toBe(true);
    expect(recorder.messages.filter((m) => m.deviceId === bystander.id)).toHaveLength(10);
  });
});
