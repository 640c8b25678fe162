import { createHash } from 'node:crypto';
import type { MessageId } from './telemetry.js';

/** See MessageId: the same device, topic and bytes always give the same id. */
export function messageIdOf(deviceId: string, topic: string, payload: Buffer): MessageId {
  const h = createHash('sha256');
  h.update(deviceId);
  h.update('\0');
  h.update(topic);
  h.update('\0');
  h.update(payload);
  return h.digest().readBigUInt64BE(0);
}
