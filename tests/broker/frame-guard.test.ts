import { describe, expect, it } from 'vitest';
import { FrameGuard, FrameGuardError } from '../../broker/frame-guard.js';
import { varint } from './harness.js';

/** Feeds the chunks one by one; resolves with what passed through or the error that stopped it. */
function feed(max: number, chunks: Buffer[]): Promise<{ out: Buffer; error?: FrameGuardError }> {
  return new Promise((resolve) => {
    const guard = new FrameGuard(max);
    const out: Buffer[] = [];
    guard.on('data', (d: Buffer) => out.push(d));
    guard.on('error', (error: FrameGuardError) => resolve({ out: Buffer.concat(out), error }));
    guard.on('end', () => resolve({ out: Buffer.concat(out) }));
    for (const c of chunks) guard.write(c);
    guard.end();
  });
}

const packet = (type: number, bodyLength: number): Buffer =>
  Buffer.concat([Buffer.from([type]), varint(bodyLength), Buffer.alloc(bodyLength, 0x61)]);

/** Every way to cut `b` into single bytes. */
const bytes = (b: Buffer): Buffer[] => [...b].map((x) => Buffer.from([x]));

describe('FrameGuard', () => {
  it('passes packets through unchanged, whole or split anywhere', async () => {
    const stream = Buffer.concat([packet(0x10, 20), packet(0xc0, 0), packet(0x30, 200), packet(0x30, 127), packet(0x30, 128)]);
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
