import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through stream in front of aedes that follows MQTT 3.1.1 packets on the wire
 * and fails the connection on what aedes (via mqtt-packet) cannot see or does not check:
 *
 * - a packet that announces more than `maxPacketBytes` (mqtt-packet buffers a whole
 *   packet, with no limit of its own, before parsing it): refused from its header alone;
 * - a UTF-8 string that is ill-formed [MQTT-1.5.3-1] or holds U+0000 [MQTT-1.5.3-2]:
 *   mqtt-packet decodes with `toString('utf8')`, which turns bad bytes into U+FFFD, so
 *   after parsing nobody can tell any more;
 * - a topic name or filter longer than `maxTopicBytes`;
 * - a SUBSCRIBE or UNSUBSCRIBE without a topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2]
 *   (aedes 1.2.0 answers an empty UNSUBSCRIBE with an UNSUBACK);
 * - a CONNECT whose will QoS is 3 [MQTT-3.1.2-14] (aedes 1.2.0 keeps the will and later
 *   publishes it at QoS 2).
 *
 * It reads the strings of CONNECT (protocol name, client id, will topic, username),
 * PUBLISH (topic name), SUBSCRIBE and UNSUBSCRIBE (topic filters) and skips everything
 * else. It never buffers: every chunk is forwarded as it arrives, and strings are
 * validated byte by byte with a streaming decoder, so a string split across reads costs
 * nothing extra.
 */

export type FrameGuardCode = 'FRAME_TOO_LARGE' | 'FRAME_MALFORMED' | 'STRING_INVALID' | 'TOPIC_TOO_LONG';

export class FrameGuardError extends Error {
  constructor(
    readonly code: FrameGuardCode,
    message: string,
  ) {
    super(message);
    this.name = 'FrameGuardError';
  }
}

export interface FrameGuardLimits {
  /** Longest topic name or filter, in bytes of UTF-8. */
  readonly maxTopicBytes: number;
}

// [MQTT-2.2.3] Remaining Length: 7 bits per byte, high bit = "more bytes follow",
// at most four bytes (maximum 268 435 455).
const MAX_LENGTH_BYTES = 4;

// Control packet types, MQTT 3.1.1 section 2.2.1.
const CONNECT = 1;
const PUBLISH = 3;
const SUBSCRIBE = 8;
const UNSUBSCRIBE = 10;

/** What the next bytes of a packet body are. */
type Field =
  | { readonly kind: 'string'; readonly name: string; readonly topic: boolean }
  | { readonly kind: 'binary' } // two-byte length, then bytes nobody here needs
  | { readonly kind: 'fixed'; readonly bytes: number }
  | { readonly kind: 'rest' }; // the remainder of the packet is not ours to read

const REST: Field = { kind: 'rest' };
const BINARY: Field = { kind: 'binary' };
const PACKET_ID: Field = { kind: 'fixed', bytes: 2 };
const QOS_BYTE: Field = { kind: 'fixed', bytes: 1 };
const FILTER: Field = { kind: 'string', name: 'topic filter', topic: true };

// CONNECT flags, section 3.1.2.3.
const WILL_FLAG = 0x04;
const PASSWORD_FLAG = 0x40;
const USERNAME_FLAG = 0x80;
const WILL_QOS_SHIFT = 3;
const WILL_QOS_MASK = 0x18;

export class FrameGuard extends Transform {
  readonly #maxTopicBytes: number;
  #phase: 'type' | 'length' | 'body' = 'type';
  #type = 0;
  #length = 0;
  #multiplier = 1;
  #lengthBytes = 0;
  /** Body bytes of the current packet not yet seen. */
  #bodyLeft = 0;

  /** Fields of the current body still to read, in order; computed as the body unfolds. */
  #fields: Field[] = [];
  #field: Field = REST;
  /** Bytes of the current field still to read (for a string or binary: after its length). */
  #fieldLeft = 0;
  /** Bytes read of a length prefix or fixed field, and their value. */
  #headerBytes = 0;
  #headerValue = 0;
  #inPayload = false;
  /** SUBSCRIBE, UNSUBSCRIBE: topic filters seen in the current packet. */
  #filters = 0;
  /** CONNECT: protocol level and flags, read from the fixed field after the protocol name. */
  #connectFixed: number[] = [];
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true });

  constructor(
    readonly maxPacketBytes: number,
    limits: FrameGuardLimits = { maxTopicBytes: 65535 },
  ) {
    super();
    this.#maxTopicBytes = limits.maxTopicBytes;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#scan(chunk);
    } catch (e) {
      // Nothing of the offending chunk is passed on.
      return callback(e as Error);
    }
    callback(null, chunk);
  }

  #scan(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#phase === 'type') {
        this.#type = chunk[i++]! >> 4;
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
          throw new FrameGuardError('FRAME_TOO_LARGE', `packet announces more than ${this.maxPacketBytes} bytes`);
        }
        if ((byte & 0x80) === 0) {
          this.#bodyLeft = this.#length;
          this.#startBody();
        } else if (this.#lengthBytes === MAX_LENGTH_BYTES) {
          throw new FrameGuardError('FRAME_MALFORMED', 'remaining length longer than 4 bytes [MQTT-2.2.3]');
        }
      } else {
        i = this.#body(chunk, i);
      }
    }
  }

  #startBody(): void {
    this.#filters = 0;
    switch (this.#type) {
      case CONNECT:
        this.#connectFixed = [];
        this.#fields = [
          { kind: 'string', name: 'protocol name', topic: false },
          { kind: 'fixed', bytes: 4 },
        ];
        break;
      case PUBLISH:
        this.#fields = [{ kind: 'string', name: 'topic name', topic: true }, REST];
        break;
      case SUBSCRIBE:
      case UNSUBSCRIBE:
        this.#fields = [PACKET_ID];
        break;
      default:
        this.#fields = [REST];
    }
    this.#nextField();
  }

  /** Moves to the next field, or to the next packet when the body is done. */
  #nextField(): void {
    if (this.#bodyLeft === 0) {
      if ((this.#type === SUBSCRIBE || this.#type === UNSUBSCRIBE) && this.#filters === 0) {
        throw new FrameGuardError(
          'FRAME_MALFORMED',
          `${this.#type === SUBSCRIBE ? 'SUBSCRIBE' : 'UNSUBSCRIBE'} without a topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2]`,
        );
      }
      this.#phase = 'type';
      return;
    }
    this.#phase = 'body';
    let next = this.#fields.shift();
    if (!next) {
      // SUBSCRIBE and UNSUBSCRIBE repeat their filters until the packet ends [MQTT-3.8.3], [MQTT-3.10.3].
      next = this.#type === SUBSCRIBE || this.#type === UNSUBSCRIBE ? FILTER : REST;
      if (this.#type === SUBSCRIBE) this.#fields.push(QOS_BYTE);
    }
    if (next === FILTER) this.#filters += 1;
    this.#field = next;
    this.#headerBytes = 0;
    this.#headerValue = 0;
    this.#inPayload = false;
    this.#fieldLeft = next.kind === 'fixed' ? next.bytes : next.kind === 'rest' ? this.#bodyLeft : 2;
  }

  /** Reads body bytes from chunk[i]; returns the index after what it consumed. */
  #body(chunk: Buffer, i: number): number {
    const field = this.#field;
    const take = Math.min(this.#fieldLeft, this.#bodyLeft, chunk.length - i);
    if (take === 0) throw new FrameGuardError('FRAME_MALFORMED', 'a field runs past the end of its packet');

    if (field.kind === 'rest' || (field.kind === 'binary' && this.#inPayload)) {
      // skip
    } else if (field.kind === 'string' && this.#inPayload) {
      const bytes = chunk.subarray(i, i + take);
      // UTF-8 never encodes anything but U+0000 with a zero byte, so this is exact.
      if (bytes.includes(0)) throw new FrameGuardError('STRING_INVALID', `U+0000 in the ${field.name} [MQTT-1.5.3-2]`);
      this.#decode(bytes, field, true);
    } else {
      // A length prefix or a fixed field: big-endian, at most four bytes.
      for (let k = 0; k < take; k++) {
        const byte = chunk[i + k]!;
        this.#headerValue = this.#headerValue * 256 + byte;
        if (field.kind === 'fixed' && this.#type === CONNECT) this.#connectFixed.push(byte);
      }
      this.#headerBytes += take;
    }
    this.#fieldLeft -= take;
    this.#bodyLeft -= take;
    if (this.#fieldLeft === 0) this.#endOfPart(field);
    else if (this.#bodyLeft === 0) throw new FrameGuardError('FRAME_MALFORMED', 'a field runs past the end of its packet');
    return i + take;
  }

  /** A length prefix, a string, a binary or a fixed field is complete. */
  #endOfPart(field: Field): void {
    if ((field.kind === 'string' || field.kind === 'binary') && !this.#inPayload) {
      const length = this.#headerValue;
      if (field.kind === 'string' && field.topic && length > this.#maxTopicBytes) {
        throw new FrameGuardError('TOPIC_TOO_LONG', `${field.name} of ${length} bytes, over ${this.#maxTopicBytes}`);
      }
      if (length > this.#bodyLeft)
        throw new FrameGuardError('FRAME_MALFORMED', `${field.kind === 'string' ? field.name : 'binary field'} runs past the end of its packet`);
      this.#inPayload = true;
      this.#fieldLeft = length;
      if (length > 0) return;
    }
    if (field.kind === 'string') this.#decode(new Uint8Array(0), field, false);
    if (field.kind === 'fixed' && this.#type === CONNECT && this.#connectFixed.length === 4) this.#planConnect();
    this.#nextField();
  }

  #decode(bytes: Uint8Array, field: Extract<Field, { kind: 'string' }>, more: boolean): void {
    try {
      this.#utf8.decode(bytes, { stream: more });
    } catch {
      throw new FrameGuardError('STRING_INVALID', `the ${field.name} is not well-formed UTF-8 [MQTT-1.5.3-1]`);
    }
  }

  /** CONNECT payload order, section 3.1.3: client id, will topic and message, username, password. */
  #planConnect(): void {
    const [level, flags] = this.#connectFixed as [number, number];
    // Only 3.1 (level 3) and 3.1.1 (level 4) have this layout; aedes refuses the rest with CONNACK 1.
    if (level !== 3 && level !== 4) {
      this.#fields = [REST];
      return;
    }
    if (flags & WILL_FLAG && (flags & WILL_QOS_MASK) >> WILL_QOS_SHIFT === 3) {
      throw new FrameGuardError('FRAME_MALFORMED', 'will QoS 3 [MQTT-3.1.2-14]');
    }
    this.#fields = [{ kind: 'string', name: 'client id', topic: false }];
    if (flags & WILL_FLAG) this.#fields.push({ kind: 'string', name: 'will topic', topic: true }, BINARY);
    if (flags & USERNAME_FLAG) this.#fields.push({ kind: 'string', name: 'user name', topic: false });
    if (flags & PASSWORD_FLAG) this.#fields.push(BINARY);
    this.#fields.push(REST);
  }
}

export const frameGuard = (maxPacketBytes: number, limits?: FrameGuardLimits): FrameGuard => new FrameGuard(maxPacketBytes, limits);
