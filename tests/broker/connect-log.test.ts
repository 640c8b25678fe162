import { createHash } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLog, connect, DEVICES, endClient, fakeDirectory, startBroker, type Started } from './harness.js';

/** Nothing secret-shaped reaches the log from a refused CONNECT, and the logger redacts what it must. */
const fall = DEVICES[0]!;
let started: Started;
beforeAll(async () => {
  started = await startBroker({ directory: await fakeDirectory() });
});
afterAll(async () => started?.broker.close());

async function refused(username: string, password: string): Promise<number> {
  let client: MqttClient | undefined;
  try {
    client = await connect(`mqtt://127.0.0.1:${started.port}`, { username, password, clientId: 'swapped' });
    return 0;
  } catch (e) {
    return (e as { code?: number }).code ?? -1;
  } finally {
    if (client) await endClient(client);
  }
}

describe('a refused CONNECT', () => {
  it('with swapped credentials (the secret as username) logs a digest and length of the username, never the secret', async () => {
    // A secret shaped like a device id, as base64url secrets mostly are.
    const secret = 'Zq3v8TnW0yR2bX7kLm4pQs9dF1hJc6gA5eUiOo-_xYz';
    expect(await refused(secret, fall.id)).toBe(4);
    expect(await refused(`${secret}/with+slash`, fall.id)).toBe(4);
    const refusals = started.log.lines.filter((l) => l.event === 'connect_refused');
    expect(refusals.map((l) => l.username)).toEqual([
      { sha256: createHash('sha256').update(secret).digest('hex').slice(0, 12), length: secret.length },
      { sha256: createHash('sha256').update(`${secret}/with+slash`).digest('hex').slice(0, 12), length: secret.length + 11 },
    ]);
    expect(started.log.text.join('')).not.toContain(secret.slice(0, 16));
  });

  it('logs a known device id as it is (it is no secret), never the password', async () => {
    expect(await refused(fall.id, 'a-wrong-secret-value')).toBe(4);
    const refusal = started.log.lines.filter((l) => l.event === 'connect_refused').at(-1);
    expect(refusal).toMatchObject({ username: fall.id, reason: 'wrong device secret' });
    expect(started.log.text.join('')).not.toContain('a-wrong-secret-value');
  });
});

describe('the logger', () => {
  it('redacts tokens, passwords, secrets and authorization headers wherever they are bound', () => {
    const { logger, text } = captureLog();
    const child = logger.child({ component: 'api' });
    child.info({ token: 'tok-AAAA', password: 'pw-BBBB', secret: 'sec-CCCC', req: { headers: { authorization: 'Bearer hdr-DDDD' } } }, 'top level');
    child.info({ headers: { authorization: 'Bearer hdr-EEEE' }, device: { secret: 'sec-FFFF', token: 'tok-GGGG', password: 'pw-HHHH' } }, 'nested');
    const out = text.join('');
    for (const value of ['AAAA', 'BBBB', 'CCCC', 'DDDD', 'EEEE', 'FFFF', 'GGGG', 'HHHH']) expect(out).not.toContain(value);
    expect(out.match(/\[redacted\]/g)).toHaveLength(8);
  });
});
