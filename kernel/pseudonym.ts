import { createHmac, randomBytes } from 'node:crypto';
import type { ConsentScope } from './consent.js';

/** 256-bit key, as NIST SP 800-107 recommends for HMAC-SHA256 (at least the hash length). */
export const PSEUDONYM_KEY_BYTES = 32;
export const newPseudonymKey = (): Buffer => randomBytes(PSEUDONYM_KEY_BYTES);

/** Turns the hub's participant id into what one audience of one trial sees. */
export type Pseudonymiser = (trialId: string, audience: ConsentScope, participantId: string) => string;

/**
 * HMAC-SHA256(key, trial | audience | participant), first 80 bits in hex. Keyed, so
 * nobody without the key can recompute or reverse it; salted by trial and audience, so
 * the same participant gets unrelated pseudonyms in two trials or for two audiences
 * (unlinkable). 80 bits keeps collisions negligible for any trial's size (birthday
 * bound ~2^40). The "|" cannot occur in ids (kernel/ids.ts), so the input is unambiguous.
 */
export function pseudonymiser(key: Buffer): Pseudonymiser {
  if (key.length < PSEUDONYM_KEY_BYTES) throw new Error(`pseudonym key must be at least ${PSEUDONYM_KEY_BYTES} bytes`);
  const k = Buffer.from(key); // a private copy: the caller's buffer may be reused or zeroed
  return (trialId, audience, participantId) => createHmac('sha256', k).update(`${trialId}|${audience}|${participantId}`).digest('hex').slice(0, 20);
}
