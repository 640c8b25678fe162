import { execFile, spawnSync } from 'node:child_process';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDirectory } from '../../kernel/ports.js';
import { DEVICES, fakeDirectory, recordingSink, startBroker, type Started } from './harness.js';

// An outside client (Debian package mosquitto-clients) checks that the broker speaks
// plain MQTT 3.1.1, not just whatever mqtt.js happens to accept.

const fall = DEVICES[0]!;
const topic = `devices/${fall.id}/events`;

function mosquittoPub(port: number, args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', ...args], { timeout: 10_000 }, (err, _stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stderr }),
    );
  });
}

describe('mosquitto_pub as an outside client', () => {
  let directory: DeviceDirectory;
  let started: Started | undefined;
  beforeAll(async () => {
    // tests/setup/ensure-packages.sh installs it; a missing client is a failed set-up, not a reason to skip.
    expect(spawnSync('mosquitto_pub', ['--help']).error, 'mosquitto_pub (Debian mosquitto-clients)').toBeUndefined();
    directory = await fakeDirectory([fall]);
  });
  afterEach(async () => {
    await started?.broker.close();
    started = undefined;
  });

  it('publishes QoS 1 with the device secret and is refused with a wrong one', async () => {
    const recorder = recordingSink();
    started = await startBroker({ directory, sink: recorder.sink });
    const message = JSON.stringify({ sensor: fall.id, time: Date.now(), status: { mains: true } });

    const ok = await mosquittoPub(started.port, ['-i', 'mosq-1', '-u', fall.id, '-P', fall.secret, '-q', '1', '-t', topic, '-m', message]);
    expect(ok).toEqual({ code: 0, stderr: '' });
    expect(recorder.messages).toMatchObject([{ deviceId: fall.id, topic }]);
    expect(recorder.messages[0]!.payload.toString()).toBe(message);

    const bad = await mosquittoPub(started.port, ['-i', 'mosq-2', '-u', fall.id, '-P', 'wrong', '-q', '1', '-t', topic, '-m', message]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/bad user name or password/i);
    expect(recorder.messages).toHaveLength(1);
  });
});
