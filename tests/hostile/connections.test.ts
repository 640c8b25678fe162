import { connect as tcpConnect, type Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeDirectory, recordingSink, startBroker, type Started, type TestDevice } from '../broker/harness.js';

/**
 * Thousands of connections: idle sockets that never send CONNECT are closed after the
 * connect timeout, a thousand real device sessions are served, and a listener over its
 * connection limit drops what comes beyond it. Bounded in count; everything stops by itself.
 */

let started: Started | undefined;
const sockets: Socket[] = [];
const clients: MqttClient[] = [];
afterEach(async () => {
  sockets.splice(0).forEach((s) => s.destroy());
  await Promise.all(clients.splice(0).map((c) => c.endAsync(true)));
  await started?.broker.close();
  started = undefined;
});

/** Opens n raw TCP connections that send nothing, 250 at a time; resolves with them once all are open. */
async function idle(port: number, n: number): Promise<{ socket: Socket; closed: Promise<void> }[]> {
  const out: { socket: Socket; closed: Promise<void> }[] = [];
  for (let i = 0; i < n; i += 250) out.push(...(await idleBatch(port, Math.min(250, n - i))));
  return out;
}

function idleBatch(port: number, n: number): Promise<{ socket: Socket; closed: Promise<void> }[]> {
  return Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<{ socket: Socket; closed: Promise<void> }>((resolve, reject) => {
          const socket = tcpConnect(port, '127.0.0.1');
          sockets.push(socket);
          socket.on('error', () => undefined);
          const closed = new Promise<void>((r) => socket.once('close', () => r()));
          socket.once('connect', () => resolve({ socket, closed }));
          socket.once('error', reject);
        }),
    ),
  );
}

const devices: TestDevice[] = Array.from({ length: 20 }, (_, i) => ({ id: `MANY-${i}`, secret: `many-secret-${i}`, profileId: 'dosebox', active: true }));

describe('many connections', () => {
  it('closes 2000 idle connections that never send CONNECT after the connect timeout', { timeout: 60_000 }, async () => {
    started = await startBroker({ directory: await fakeDirectory(devices.slice(0, 1)), connections: { connectTimeoutMs: 1000 } });
    const conns = await idle(started.port, 2000);
    await Promise.all(conns.map((c) => c.closed));
    expect(conns.every((c) => c.socket.destroyed)).toBe(true);
  });

  it('serves 1000 device sessions at once, and each can publish', { timeout: 120_000 }, async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory: await fakeDirectory(devices), sink: recorder.sink });
    const url = `mqtt://127.0.0.1:${started.port}`;
    // 50 sessions per device: one scrypt check per device, the rest hit the verified cache.
    for (let batch = 0; batch < 10; batch++) {
      const opened = await Promise.all(
        Array.from({ length: 100 }, (_, i) => {
          const n = batch * 100 + i;
          const d = devices[n % devices.length]!;
          return mqtt.connectAsync(url, { username: d.id, password: d.secret, clientId: `s-${n}`, reconnectPeriod: 0, protocolVersion: 4 });
        }),
      );
      clients.push(...opened);
    }
    expect(clients.filter((c) => c.connected)).toHaveLength(1000);
    expect(started.broker.aedes.connectedClients).toBe(1000);
    await Promise.all(clients.map((c, n) => c.publishAsync(`devices/${devices[n % devices.length]!.id}/events`, `hello-${n}`, { qos: 1 })));
    expect(recorder.messages).toHaveLength(1000);
  });

  it('drops connections beyond the listener limit at once, and keeps serving the others', { timeout: 60_000 }, async () => {
    const d = devices[0]!;
    started = await startBroker({ directory: await fakeDirectory([d]), connections: { connectTimeoutMs: 30_000, maxConnections: 50 } });
    await idle(started.port, 49);
    const ok = await mqtt.connectAsync(`mqtt://127.0.0.1:${started.port}`, { username: d.id, password: d.secret, clientId: 'within', reconnectPeriod: 0 });
    clients.push(ok);
    const [beyond] = await idle(started.port, 1);
    await beyond!.closed; // long before the 30 s connect timeout
    await ok.publishAsync(`devices/${d.id}/events`, 'still here', { qos: 1 });
  });
});
