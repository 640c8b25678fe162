import { describe, expect, it } from 'vitest';
import { FrameGuard, type FrameGuardError } from '../../broker/frame-guard.js';
import { connectBytes, frame, publishBytes, str, subscribeBytes, varint } from './harness.js';

/** Feeds the chunks one by one; resolves with what passed through or the error that stopped it. */
function feed(max: number, chunks: Buffer[], maxTopicBytes = 65535): Promise<{ out: Buffer; error?: FrameGuardError }> {
  return new Promise((resolve) => {
    const guard = new FrameGuard(max, { maxTopicBytes });
    const out: Buffer[] = [];
    guard.on('data', (d: Buffer) => out.push(d));
    guard.on('error', (error: FrameGuardError) => resolve({ out: Buffer.concat(out), error }));
    guard.on('end', () => resolve({ out: Buffer.concat(out) }));
    for (const c of chunks) guard.write(c);
    guard.end();
  });
}

/** A packet with a body of `bodyLength` bytes; a PUBLISH body starts with a well-formed one-letter topic. */
const packet = (type: number, bodyLength: number): Buffer => {
  const body = Buffer.alloc(bodyLength, 0x61);
  if (type >> 4 === 3) body.writeUInt16BE(1, 0);
  return Buffer.concat([Buffer.from([type]), varint(bodyLength), body]);
};

/** Every way to cut `b` into single bytes. */
const bytes = (b: Buffer): Buffer[] => [...b].map((x) => Buffer.from([x]));

describe('FrameGuard', () => {
  it('passes packets through unchanged, whole or split anywhere', async () => {
    const stream = Buffer.concat([packet(0x90, 20), packet(0xc0, 0), packet(0x30, 200), packet(0x30, 127), packet(0x30, 128)]);
    expect((await feed(1000, [stream])).out).toEqual(stream);
    expect((await feed(1000, bytes(stream))).out).toEqual(stream);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const r = await feed(1000, [stream.subarray(0, cut), stream.subarray(cut)]);
      expect(r.error).toBeUndefined();
      expect(r.out).toEqual(stream);
    }
  });

  it('accepts a packet of exactly the limit and refuses one byte more', async () => {
    expect((await feed(300, [packet(0x30, 300)])).error).toBeUndefined();
    expect((await feed(300, [packet(0x30, 301)])).error?.code).toBe('FRAME_TOO_LARGE');
  });

  it('refuses a 10 MB announcement from the header alone, also when the length bytes are split', async () => {
    const header = Buffer.concat([Buffer.from([0x30]), varint(10 * 1024 * 1024)]);
    expect(header.length).toBe(5);
    const whole = await feed(262144, [header]);
    expect(whole.error?.code).toBe('FRAME_TOO_LARGE');
    expect(whole.out.length).toBe(0); // nothing of the offending chunk is passed on
    expect((await feed(262144, bytes(header))).error?.code).toBe('FRAME_TOO_LARGE');
  });

  it('refuses a too-large packet that follows good ones in the same chunk', async () => {
    const r = await feed(100, [Buffer.concat([packet(0x30, 10), packet(0x30, 101)])]);
    expect(r.error?.code).toBe('FRAME_TOO_LARGE');
  });

  it('refuses a remaining length longer than four bytes [MQTT-2.2.3]', async () => {
    const r = await feed(2 ** 30, [Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80, 0x01])]);
    expect(r.error?.code).toBe('FRAME_MALFORMED');
    // the four-byte maximum 268 435 455 is well formed (refused only for size)
    expect((await feed(2 ** 30, [Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])])).error).toBeUndefined();
  });

  it('forwards a partial packet at once instead of waiting for the whole body', async () => {
    const guard = new FrameGuard(10_000);
    const out: Buffer[] = [];
    guard.on('data', (d: Buffer) => out.push(d));
    const start = Buffer.concat([Buffer.from([0x30]), varint(5000), Buffer.alloc(100)]);
    guard.write(start);
    await new Promise((r) => setImmediate(r));
    expect(Buffer.concat(out)).toEqual(start);
    guard.destroy();
  });
});

// Ill-formed UTF-8 [MQTT-1.5.3-1]: a lone continuation byte, an overlong "/", a UTF-16
// surrogate (U+D800) encoded as UTF-8, a sequence cut short, a code point above U+10FFFF.
const ILL_FORMED: Record<string, Buffer> = {
  'lone continuation byte': Buffer.from([0x61, 0x80, 0x62]),
  'overlong encoding': Buffer.from([0x61, 0xc0, 0xaf]),
  surrogate: Buffer.from([0xed, 0xa0, 0x80]),
  'truncated sequence': Buffer.from([0x61, 0xe2, 0x82]),
  'above U+10FFFF': Buffer.from([0xf4, 0x90, 0x80, 0x80]),
};
const topicWith = (bad: Buffer): Buffer => Buffer.concat([Buffer.from('devices/'), bad, Buffer.from('/events')]);

describe('FrameGuard: UTF-8 strings [MQTT-1.5.3-1], [MQTT-1.5.3-2]', () => {
  const good = Buffer.concat([
    connectBytes({
      clientId: 'c-ÆØÅ',
      username: 'dev-1',
      password: Buffer.from([0xff, 0x00, 0xfe]),
      will: { topic: 'devices/dev-1/events', payload: Buffer.from([0, 0xff]) },
      clean: false,
    }),
    publishBytes('devices/dev-1/events', Buffer.from([0xff, 0xfe, 0x00])), // the payload is binary: anything goes
    subscribeBytes(['devices/dev-1/commands', 'sensors/Østersund/+']),
    frame(0xa2, Buffer.from([0, 2]), str('devices/dev-1/commands')), // UNSUBSCRIBE
    Buffer.from([0x40, 0x02, 0x00, 0x01]), // PUBACK
    Buffer.from([0xc0, 0x00]), // PINGREQ
  ]);

  it('passes well-formed CONNECT, PUBLISH, SUBSCRIBE and UNSUBSCRIBE through, split anywhere', async () => {
    expect(await feed(1000, [good])).toEqual({ out: good });
    expect((await feed(1000, bytes(good))).out).toEqual(good);
    for (let cut = 1; cut < good.length; cut += 3) {
      const r = await feed(1000, [good.subarray(0, cut), good.subarray(cut)]);
      expect(r.error).toBeUndefined();
    }
  });

  for (const [name, bad] of Object.entries(ILL_FORMED)) {
    it(`refuses a ${name} in a topic name, a topic filter, a client id, a will topic and a user name`, async () => {
      const cases = [
        publishBytes(topicWith(bad), '{}'),
        subscribeBytes(['devices/ok/commands', topicWith(bad)]),
        frame(0xa2, Buffer.from([0, 2]), str(topicWith(bad))),
        connectBytes({ clientId: bad, clean: true }),
        connectBytes({ clientId: 'ok', will: { topic: topicWith(bad), payload: Buffer.from('x') }, clean: true }),
        connectBytes({ clientId: 'ok', username: bad, password: 'x', clean: true }),
      ];
      for (const packet of cases) {
        expect((await feed(1000, [packet])).error?.code).toBe('STRING_INVALID');
        expect((await feed(1000, bytes(packet))).error?.code).toBe('STRING_INVALID');
      }
    });
  }

  it('refuses U+0000 in a topic name, a filter and a client id, but not in a password or payload', async () => {
    const nul = topicWith(Buffer.from([0]));
    for (const packet of [publishBytes(nul), subscribeBytes([nul]), connectBytes({ clientId: 'a\u0000b', clean: true })]) {
      expect((await feed(1000, [packet])).error).toMatchObject({ code: 'STRING_INVALID', message: expect.stringContaining('MQTT-1.5.3-2') });
    }
    expect((await feed(1000, [connectBytes({ clientId: 'ok', username: 'u', password: Buffer.from([0]), clean: true })])).error).toBeUndefined();
  });

  it('leaves a CONNECT of another protocol level alone (aedes answers it with CONNACK 1)', async () => {
    const v5 = connectBytes({ clientId: Buffer.from([0xff]), clean: true, level: 5 });
    expect((await feed(1000, [v5])).error).toBeUndefined();
  });

  it('refuses a topic name or filter over the byte limit, and accepts one at it', async () => {
    const at = `d/${'é'.repeat(9)}`; // 2 + 18 = 20 bytes
    expect((await feed(1000, [publishBytes(at), subscribeBytes([at])], 20)).error).toBeUndefined();
    expect((await feed(1000, [publishBytes(`${at}x`)], 20)).error?.code).toBe('TOPIC_TOO_LONG');
    expect((await feed(1000, [subscribeBytes(['a', `${at}x`])], 20)).error?.code).toBe('TOPIC_TOO_LONG');
  });

  it('refuses a string or field that runs past the end of its packet', async () => {
    const topicPastEnd = Buffer.concat([Buffer.from([0x30, 0x04]), Buffer.from([0x00, 0x09]), Buffer.from('ab')]);
    expect((await feed(1000, [topicPastEnd])).error?.code).toBe('FRAME_MALFORMED');
    const oneBytePublish = Buffer.from([0x30, 0x01, 0x00]);
    expect((await feed(1000, [oneBytePublish])).error?.code).toBe('FRAME_MALFORMED');
    const shortConnect = frame(0x10, str('MQTT'), Buffer.from([4, 0x02]));
    expect((await feed(1000, [shortConnect])).error?.code).toBe('FRAME_MALFORMED');
  });
});
