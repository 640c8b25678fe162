import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { messageIdOf } from '../../kernel/message-id.js';

/** The definition, written the plain way: ids already stored must keep matching redeliveries. */
function reference(deviceId: string, topic: string, payload: Buffer): bigint {
  const h = createHash('sha256');
  for (const part of [deviceId, '\0', topic, '\0']) h.update(part, 'utf8');
  h.update(payload);
  return h.digest().readBigUInt64BE(0);
}

describe('messageIdOf', () => {
  it('is the first 64 bits of SHA-256(deviceId NUL topic NUL payload), unchanged', () => {
    const payload = Buffer.from('{"kind":"weight","value":72450,"unit":"g"}');
    expect(messageIdOf('AQ-3001', 'devices/AQ-3001/measurements', payload)).toBe(2687344856172616009n);
  });

  it('agrees with the definition for any bytes, non-ASCII names and an empty payload', () => {
    const cases: [string, string, Buffer][] = [
      ['Ø-ÆÅ-7', 'devices/Ø-ÆÅ-7/målinger', Buffer.from('ø')],
      ['D1', 'devices/D1/events', Buffer.alloc(0)],
      ...Array.from({ length: 50 }, (_, i): [string, string, Buffer] => [`DEV-${i}`, `devices/DEV-${i}/senml`, randomBytes(i * 37)]),
    ];
    for (const [d, t, p] of cases) expect(messageIdOf(d, t, p)).toBe(reference(d, t, p));
  });

  it('tells apart where the device id ends and the topic begins', () => {
    const p = Buffer.from('x');
    expect(messageIdOf('AB', 'C', p)).not.toBe(messageIdOf('A', 'BC', p));
  });
});
