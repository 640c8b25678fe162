import { hash } from 'node:crypto';
import type { MessageId } from './telemetry.js';

/**
 * See MessageId: the same device, topic and bytes always give the same id: the first 64
 * bits of SHA-256(deviceId \0 topic \0 payload). One-shot hashing of one buffer costs
 * less than half of a createHash() object fed piece by piece (1.1 vs 2.4 µs a message).
 */
export function messageIdOf(deviceId: string, topic: string, payload: Buffer): MessageId {
  const head = `${deviceId}\0${topic}\0`;
  const headBytes = Buffer.byteLength(head);
  const bytes = Buffer.allocUnsafe(headBytes + payload.length);
  bytes.write(head, 0);
  payload.copy(bytes, headBytes);
  return BigInt(`0x${hash('sha256', bytes).slice(0, 16)}`);
}
