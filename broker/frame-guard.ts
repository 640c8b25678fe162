import { Transform, type TransformCallback } from 'node:stream';

/**
 * aedes (via mqtt-packet) buffers a packet until its announced Remaining Length has
 * arrived, and has no limit of its own: one CONNECT announcing 256 MB would be held in
 * memory. This pass-through stream follows the MQTT fixed headers on the wire and
 * fails the connection as soon as a packet announces more than `maxPacketBytes`. It
 * never buffers: every chunk is forwarded as it arrives, only a few counters are kept.
 */

export type FrameGuardCode = 'FRAME_TOO_LARGE' | 'FRAME_MALFORMED';

export class FrameGuardError extends Error {
  constructor(readonly code: FrameGuardCode, message: string) {
    super(message);
    this.name = 'FrameGuardError';
  }
}

// [MQTT-2.2.3] Remaining Length: 7 bits per byte, high bit = "more bytes follow",
// at most four bytes (maximum 268 435 455).
const MAX_LENGTH_BYTES = 4;

export class FrameGuard extends Transform {
  #phase: 'type' | 'length' | 'body' = 'type';
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  #bodyLeft = 0;

  constructor(readonly maxPacketBytes: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#phase === 'type') {
        // The first byte (packet type and flags) is mqtt-packet's to judge.
        i += 1;
        this.#phase = 'length';
        this.#length = 0;
        this.#multiplier = 1;
        this.#lengthBytes = 0;
      } else if (this.#phase === 'length') {
        const byte = chunk[i++]!;
        this.#length += (byte & 0x7f) * this.#multiplier;
        this.#multiplier *= 128;
        this.#lengthBytes += 1;
        // The value only grows, so a packet is refused as soon as it is known to be too big.
        if (this.#length > this.maxPacketBytes) {
          return callback(new FrameGuardError('FRAME_TOO_LARGE', `packet announces more than ${this.maxPacketBytes} bytes`));
        }
        if ((byte & 0x80) === 0) {
          this.#bodyLeft = this.#length;
          this.#phase = this.#length === 0 ? 'type' : 'body';
        } else if (this.#lengthBytes === MAX_LENGTH_BYTES) {
          return callback(new FrameGuardError('FRAME_MALFORMED', 'remaining length longer than 4 bytes [MQTT-2.2.3]'));
        }
      } else {
        const skip = Math.min(this.#bodyLeft, chunk.length - i);
        i += skip;
        this.#bodyLeft -= skip;
        if (this.#bodyLeft === 0) this.#phase = 'type';
      }
    }
    callback(null, chunk);
  }
}

export const frameGuard = (maxPacketBytes: number): FrameGuard => new FrameGuard(maxPacketBytes);
