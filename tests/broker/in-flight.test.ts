import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createInFlight, type ReadGate } from '../../broker/in-flight.js';
import type { DeviceDirectory } from '../../kernel/ports.js';
import type { InboundMessage } from '../../kernel/telemetry.js';
import { DEVICES, connect, endClient, fakeDirectory, sleep, startBroker, type Started } from './harness.js';
import { until } from '../helpers/poll.js';

/** A gate that records whether it is held. */
function fakeGate() {
  const gate = { held: false, holds: 0, hold: () => void ((gate.held = true), gate.holds++), release: () => void (gate.held = false) };
  return gate satisfies ReadGate;
}

describe('counting publishes in flight', () => {
  it('holds a connection at its limit and lets it read again when half are done', () => {
    const a = { gate: fakeGate() };
    const inFlight = createInFlight({ perConnection: 4, total: 100 }, (o) => (o as typeof a).gate);
    const ends = Array.from({ length: 4 }, () => inFlight.begin(a));
    expect(a.gate.held).toBe(true);
    expect(inFlight.stats()).toEqual({ inFlight: 4, held: 1 });
    ends[0]!();
    ends[0]!(); // a second call changes nothing
    expect(a.gate.held).toBe(true); // 3 left, more than half
    ends[1]!();
    expect(a.gate.held).toBe(false);
    expect(inFlight.stats()).toEqual({ inFlight: 2, held: 0 });
  });

  it('holds every connection that publishes while the total is at its limit; below it they resume one per publish done, oldest first', () => {
    const owners = Array.from({ length: 8 }, () => ({ gate: fakeGate() }));
    const inFlight = createInFlight({ perConnection: 100, total: 8 }, (o) => (o as (typeof owners)[0]).gate);
    const ends = owners.map((o) => inFlight.begin(o));
    expect(owners.map((o) => o.gate.held)).toEqual([false, false, false, false, false, false, false, true]);
    const late = { gate: fakeGate() };
    ends.push(inFlight.begin(late)); // 9 > 8
    expect(late.gate.held).toBe(true);
    ends[0]!(); // 8 left: still at the limit
    expect([owners[7]!.gate.held, late.gate.held]).toEqual([true, true]);
    ends[1]!(); // 7: the first held goes on
    expect([owners[7]!.gate.held, late.gate.held]).toEqual([false, true]);
    ends[2]!(); // 6: the next one
    expect(late.gate.held).toBe(false);
    expect(inFlight.stats().held).toBe(0);
  });

  it('counts an owner without a connection gate but never holds it', () => {
    const inFlight = createInFlight({ perConnection: 1, total: 1 }, () => undefined);
    const end = inFlight.begin({});
    expect(inFlight.stats()).toEqual({ inFlight: 1, held: 0 });
    end();
    expect(inFlight.stats()).toEqual({ inFlight: 0, held: 0 });
  });

  it('refuses limits below 1', () => {
    expect(() => createInFlight({ perConnection: 0, total: 10 }, () => undefined)).toThrow(RangeError);
  });
});

describe('a device sending faster than its messages are committed', () => {
  const [device] = DEVICES as [(typeof DEVICES)[0]];
  const MESSAGES = 1000;
  let directory: DeviceDirectory;
  beforeAll(async () => {
    directory = await fakeDirectory();
  });
  let started: Started | undefined;
  let client: MqttClient | undefined;
  let open: () => void = () => undefined;
  afterEach(async () => {
    open(); // a failed test must not leave broker.close() waiting on a commit
    if (client) await endClient(client);
    await started?.broker.close();
  });

  it('is read no further than its in-flight limit (and what one read brings) while commits wait; then everything arrives, in order', {
    timeout: 30_000,
  }, async () => {
    let entered = 0;
    const committing = new Promise<void>((r) => (open = r));
    const stored: InboundMessage[] = [];
    started = await startBroker({
      directory,
      publishRate: { perSecond: 1_000_000, burst: 1_000_000 },
      inFlight: { perConnection: 8, total: 10_000 },
      sink: async (m) => {
        entered++;
        await committing;
        stored.push(m);
      },
    });
    client = await connect(`mqtt://127.0.0.1:${started.port}`, { username: device.id, password: device.secret, clientId: device.id });
    const topic = `devices/${device.id}/events`;
    // One message at a time, each in its own TCP segment: aedes reads again on every
    // arrival, however many of the earlier ones still wait for their commit.
    const acks: Promise<unknown>[] = [];
    for (let i = 0; i < MESSAGES; i++) {
      acks.push(client.publishAsync(topic, `${String(i).padStart(4, '0')}-payload`, { qos: 1 }));
      if (i % 10 === 9) await sleep(2); // pacing, not a wait: groups of ten leave in segments of their own
    }
    await until('the first commits reach the sink', () => entered >= 8);
    // Waits out the reads the broker would make without the hold (all 1000 messages are on
    // loopback within milliseconds): that it reads no further is an absence, not a condition to poll.
    await sleep(500);
    // 8 in flight, plus what the broker had already read when it held the connection
    // (stream buffers); without the hold, all 1000 are parsed and wait here.
    expect(entered).toBeGreaterThanOrEqual(8);
    expect(entered).toBeLessThan(100);
    open();
    await Promise.all(acks);
    expect(stored.map((m) => m.payload.subarray(0, 4).toString())).toEqual(Array.from({ length: MESSAGES }, (_, i) => String(i).padStart(4, '0')));
  });
});
