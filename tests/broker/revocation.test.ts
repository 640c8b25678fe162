import type { MqttClient } from 'mqtt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { hashSecret } from '../../kernel/secrets.js';
import { DEVICES, closed, connect, endClient, fakeDirectory, recordingSink, startBroker, type FakeDirectory, type Started } from './harness.js';

/**
 * An admin deactivates or re-keys a device (a lost or stolen one, say) while it is
 * connected: its next publish is not acknowledged, its connection goes, and it is
 * refused at its next CONNECT. Nothing it sends after the change reaches ingest.
 */

const [fall] = DEVICES as [(typeof DEVICES)[0]];
const TOPIC = `devices/${fall.id}/events`;
const fallPayload = (n: number): string => JSON.stringify({ sensor: fall.id, time: Date.now(), event: { type: 'FALL_DETECTED', confidence: 0.9, n } });

let directory: FakeDirectory;
let started: Started;
let recorder: ReturnType<typeof recordingSink>;
const clients: MqttClient[] = [];
beforeEach(async () => {
  directory = await fakeDirectory([fall]);
  recorder = recordingSink();
  started = await startBroker({ directory, sink: recorder.sink });
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map(endClient));
  await started.broker.close();
});

async function login(secret: string): Promise<MqttClient> {
  const c = await connect(`mqtt://127.0.0.1:${started.port}`, { username: fall.id, password: secret, clientId: fall.id });
  clients.push(c);
  return c;
}

/** Publishes at QoS 1 and tells whether a PUBACK came before the connection closed. */
async function acknowledged(c: MqttClient, n: number): Promise<boolean> {
  const gone = closed(c).then(() => false);
  return Promise.race([c.publishAsync(TOPIC, fallPayload(n), { qos: 1 }).then(() => true), gone]);
}

async function refusedAtConnect(secret: string): Promise<number | undefined> {
  try {
    await login(secret);
    return undefined;
  } catch (e) {
    return (e as { code?: number }).code;
  }
}

describe('a device changed by an admin while it is connected', () => {
  it('deactivated: its next publish gets no PUBACK, the connection closes, and it cannot log in again', async () => {
    const c = await login(fall.secret);
    expect(await acknowledged(c, 1)).toBe(true);
    directory.update(fall.id, { active: false });
    expect(await acknowledged(c, 2)).toBe(false);
    expect(recorder.messages.map((m) => JSON.parse(m.payload.toString()).event.n)).toEqual([1]);
    expect(await refusedAtConnect(fall.secret)).toBe(4);
    expect(started.log.lines.some((l) => l.event === 'device_revoked' && l.deviceId === fall.id)).toBe(true);
  });

  it('re-keyed: the connection on the old secret is cut at its next publish; the new secret logs in and publishes', async () => {
    const c = await login(fall.secret);
    expect(await acknowledged(c, 1)).toBe(true);
    directory.update(fall.id, { secretHash: await hashSecret('a-new-secret') });
    expect(await acknowledged(c, 2)).toBe(false);
    expect(await refusedAtConnect(fall.secret)).toBe(4);
    const again = await login('a-new-secret');
    expect(await acknowledged(again, 3)).toBe(true);
    expect(recorder.messages.map((m) => JSON.parse(m.payload.toString()).event.n)).toEqual([1, 3]);
  });
});
