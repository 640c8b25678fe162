import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceDirectory } from '../../kernel/ports.js';
import { DEVICES, connect, endClient, fakeDirectory, sleep, startBroker, type Started } from '../broker/harness.js';

/**
 * Password guessing is slowed down, then locked out, per username and per address; a
 * locked attempt is refused before any secret is looked at, so guessing costs the
 * broker no scrypt. (All test traffic comes from 127.0.0.1, so the address lock is shown
 * with many usernames.)
 */

const [fall, dispenser] = DEVICES as [(typeof DEVICES)[0], (typeof DEVICES)[0]];
const THROTTLE = { freeFailuresPerUser: 3, freeFailuresPerAddress: 8, baseLockMs: 800, maxLockMs: 5000, forgetAfterMs: 60_000, maxEntries: 1000 };

let directory: DeviceDirectory & { fail: boolean };
let lookups: string[];
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

async function start(): Promise<Started> {
  lookups = [];
  const counting: DeviceDirectory = {
    ...directory,
    credentials: (id) => {
      lookups.push(id);
      return directory.credentials(id);
    },
  };
  started = await startBroker({ directory: counting, loginThrottle: THROTTLE });
  return started;
}

/** The CONNACK return code for these credentials (0 = accepted). */
async function attempt(username: string, password: string, clientId = `c-${username}`): Promise<number> {
  try {
    clients.push(await connect(`mqtt://127.0.0.1:${started!.port}`, { username, password, clientId }));
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  }
}

describe('password guessing', () => {
  it('locks a username after 3 failures: even the right secret is refused (CONNACK 5) without a lookup, until the lock ends', async () => {
    const { log } = await start();
    for (let i = 0; i < 3; i++) expect(await attempt(fall.id, `guess-${i}`)).toBe(4);
    const before = lookups.length;
    expect(await attempt(fall.id, 'guess-3')).toBe(5);
    expect(await attempt(fall.id, fall.secret)).toBe(5);
    expect(lookups.length).toBe(before); // refused before the directory or scrypt
    expect(log.lines.some((l) => l.event === 'connect_refused' && String(l.reason).startsWith('too many failed logins for this user'))).toBe(true);
    // Another device is not affected by this username's lock.
    expect(await attempt(dispenser.id, dispenser.secret)).toBe(0);
    // Waits out the lock, a rule of time: a poll for its end would pass just as well if it ended early.
    await sleep(THROTTLE.baseLockMs + 100);
    expect(await attempt(fall.id, fall.secret)).toBe(0);
  });

  it('a further failure after a lock locks again for twice as long', async () => {
    await start();
    for (let i = 0; i < 3; i++) await attempt(fall.id, `guess-${i}`);
    // Each wait outlasts one base lock (a rule of time, see above), so the doubled lock is shown to outlast the first wait.
    await sleep(THROTTLE.baseLockMs + 100);
    expect(await attempt(fall.id, 'guess-again')).toBe(4); // checked, wrong, and now locked for 2 x base
    await sleep(THROTTLE.baseLockMs + 100);
    expect(await attempt(fall.id, fall.secret)).toBe(5); // still locked
    await sleep(THROTTLE.baseLockMs + 100);
    expect(await attempt(fall.id, fall.secret)).toBe(0);
  });

  it('locks an address that sprays unknown usernames; devices behind the same address (a ward behind NAT) still log in', async () => {
    await start();
    for (let i = 0; i < THROTTLE.freeFailuresPerAddress; i++) expect(await attempt(`NO-SUCH-${i}`, 'x')).toBe(4);
    expect(await attempt('NO-SUCH-99', 'x')).toBe(5);
    expect(await attempt(dispenser.id, dispenser.secret)).toBe(0);
    // A registered device id is checked, and locked by the failures of its own username only.
    for (let i = 0; i < THROTTLE.freeFailuresPerUser; i++) expect(await attempt(fall.id, `guess-${i}`)).toBe(4);
    expect(await attempt(fall.id, fall.secret)).toBe(5);
    expect(await attempt(dispenser.id, dispenser.secret, 'c-again')).toBe(0);
  });

  it('a right secret resets its username: a device that mistyped twice is not locked by its third, right try', async () => {
    await start();
    expect(await attempt(fall.id, 'typo-1')).toBe(4);
    expect(await attempt(fall.id, 'typo-2')).toBe(4);
    expect(await attempt(fall.id, fall.secret, 'c-ok-1')).toBe(0);
    expect(await attempt(fall.id, 'typo-3', 'c-x-1')).toBe(4);
    expect(await attempt(fall.id, 'typo-4', 'c-x-2')).toBe(4);
    expect(await attempt(fall.id, fall.secret, 'c-ok-2')).toBe(0);
  });
});
