import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDirectory } from '../../kernel/ports.js';
import { mulberry32 as random, pick } from '../../sim/random.js';
import {
  DEVICES,
  connect,
  connectBytes,
  endClient,
  fakeDirectory,
  frame,
  publishBytes,
  recordingSink,
  startBroker,
  str,
  subscribeBytes,
  type Started,
} from '../broker/harness.js';

/**
 * A bounded, seeded fuzz run against the raw TCP port: random bytes, and valid packet
 * sequences (a correct CONNECT, then PUBLISH, SUBSCRIBE, UNSUBSCRIBE, PINGREQ...) with
 * bytes flipped, inserted, dropped or cut short. Afterwards the broker must still be up
 * and a well-behaved device must still get its PUBACK. A failing case prints its seed.
 */

const CASES = 2000;
const PARALLEL = 25;
const SEED = 0x5eed;
const [fall] = DEVICES as [(typeof DEVICES)[0]];

const VALID_CONNECT = connectBytes({ clientId: 'fuzz', username: fall.id, password: fall.secret, clean: true });
const TAILS = [
  publishBytes(`devices/${fall.id}/events`, '{"sensor":"x"}'),
  frame(0x32, str(`devices/${fall.id}/events`), Buffer.from([0, 7]), Buffer.from('{}')), // QoS 1
  frame(0x34, str(`devices/${fall.id}/events`), Buffer.from([0, 8]), Buffer.from('{}')), // QoS 2
  subscribeBytes([`devices/${fall.id}/commands`, '#']),
  frame(0xa2, Buffer.from([0, 3]), str('a/b')),
  Buffer.from([0xc0, 0x00]), // PINGREQ
  Buffer.from([0x40, 0x02, 0x00, 0x01]), // PUBACK for nothing
  Buffer.from([0x62, 0x02, 0x00, 0x08]), // PUBREL
  Buffer.from([0xe0, 0x00]), // DISCONNECT
];

/** One case's bytes; about half keep a valid CONNECT in front so the mutations reach the post-login code. */
function caseBytes(rnd: () => number): Buffer {
  const byte = (): number => Math.floor(rnd() * 256);
  if (rnd() < 0.3) return Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 300) }, byte));
  const keepConnect = rnd() < 0.6;
  const tail = Buffer.concat(Array.from({ length: 1 + Math.floor(rnd() * 4) }, () => pick(rnd, TAILS)));
  const target = Buffer.from(keepConnect ? tail : Buffer.concat([VALID_CONNECT, tail]));
  const bytes = [...target];
  for (let m = 1 + Math.floor(rnd() * 4); m > 0 && bytes.length > 0; m--) {
    const at = Math.floor(rnd() * bytes.length);
    const op = rnd();
    if (op < 0.4) bytes[at] = byte();
    else if (op < 0.6) bytes.splice(at, 0, byte());
    else if (op < 0.8) bytes.splice(at, 1);
    else bytes.length = at; // cut short
  }
  return Buffer.concat([keepConnect ? VALID_CONNECT : Buffer.alloc(0), Buffer.from(bytes)]);
}

/** Sends the bytes; resolves when the broker closes the connection or after a short while. */
function runCase(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    const done = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve();
    };
    const timer = setTimeout(done, 150);
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => s.write(bytes));
  });
}

/** A fresh, valid login: true when the broker answers it with CONNACK 0. */
function serving(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(ok);
    };
    // Generous: wrong secrets of mutated CONNECTs queue scrypt work ahead of this login.
    const timer = setTimeout(() => done(false), 10_000);
    s.on('error', () => done(false));
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 4) done(got[0] === 0x20 && got[3] === 0x00);
    });
    s.on('connect', () => s.write(connectBytes({ clientId: 'fuzz-probe', username: fall.id, password: fall.secret, clean: true })));
  });
}

let directory: DeviceDirectory;
let started: Started;
const recorder = recordingSink();
beforeAll(async () => {
  directory = await fakeDirectory();
  // Mutated CONNECTs carry wrong secrets; the login throttle (tests/hostile/guessing.test.ts)
  // would lock the address, which is not what this run is about.
  started = await startBroker({
    directory,
    sink: recorder.sink,
    connections: { connectTimeoutMs: 500 },
    loginThrottle: { freeFailuresPerUser: 1e9, freeFailuresPerAddress: 1e9 },
  });
});
afterAll(async () => started?.broker.close());

describe(`fuzzing the MQTT port (${CASES} cases, seed ${SEED})`, () => {
  it('survives every case, and a well-behaved device still gets its PUBACK afterwards', { timeout: 120_000 }, async () => {
    // Cases run in rounds; after each round a fresh login must still succeed, so a case that breaks
    // the broker is reported with the seeds of its round (each case is reproducible from its seed).
    const ROUND = 100;
    for (let first = 0; first < CASES; first += ROUND) {
      let next = first;
      const last = Math.min(first + ROUND, CASES);
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          for (let n = next++; n < last; n = next++) await runCase(started.port, caseBytes(random(SEED + n)));
        }),
      );
      expect(await serving(started.port), `broker stopped serving after cases ${first}..${last - 1} (seeds ${SEED + first}..${SEED + last - 1})`).toBe(true);
    }

    const c = await connect(`mqtt://127.0.0.1:${started.port}`, { username: fall.id, password: fall.secret, clientId: 'after-fuzz' });
    try {
      const before = recorder.messages.length;
      await c.publishAsync(`devices/${fall.id}/events`, 'after the fuzz', { qos: 1 });
      expect(recorder.messages.length).toBe(before + 1);
      expect(recorder.messages.at(-1)!.payload.toString()).toBe('after the fuzz');
    } finally {
      await endClient(c);
    }
  });
});
