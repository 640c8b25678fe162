import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Role } from './principal.js';

/**
 * The audit log: append-only, one entry per data release, per administrative change and
 * per refusal, hash-chained so that editing, reordering or deleting an entry is
 * detectable. Each entry's hash is HMAC-SHA256 (RFC 2104) over the canonical JSON of the
 * entry (including the previous entry's hash), hex encoded, under a key kept outside the
 * database (a file in the data folder, or the split layout's configuration): whoever can
 * write the table but lacks the key cannot re-chain the entries after one they removed.
 *
 * A chain alone cannot reveal that its newest entries were cut off, so every append also
 * rewrites a head checkpoint outside the chain (its last seq and hash, with an HMAC of
 * both); verification requires the chain to end exactly there. verify() also reports the
 * head hash and count, which an operator can note elsewhere (anchoring) and compare.
 */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

export interface AuditActor {
  /** 'system' for the hub itself (e.g. issuing the bootstrap admin token); 'anonymous' for a refused request without a valid token. */
  readonly role: Role | 'system' | 'anonymous';
  readonly tokenId: string | null;
}

export interface NewAuditEntry {
  readonly actor: AuditActor;
  /** What happened, e.g. "POST /v1/trials" or "GET /v1/trials/:id/dataset". */
  readonly action: string;
  /** What it happened to: the request path. */
  readonly target: string;
  /** Filters, body, row counts, export id: whatever the action needs to be understood later. */
  readonly detail: { readonly [key: string]: Json };
}

export interface AuditEntry extends NewAuditEntry {
  /** 1, 2, 3... without gaps. */
  readonly seq: number;
  readonly at: number;
  readonly prevHash: string;
  readonly hash: string;
}

/** The chain's last entry as the log recorded it when appending, outside the chain. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
  readonly mac: string;
}

export type AuditVerdict =
  | { readonly ok: true; readonly entries: number; readonly head: string }
  | { readonly ok: false; readonly entries: number; readonly brokenAt: number; readonly reason: string };

export interface AuditLog {
  append(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Oldest first, entries with seq > after. */
  list(query: { after?: number; limit: number; action?: string }): Promise<AuditEntry[]>;
  verify(): Promise<AuditVerdict>;
}

/** The prevHash of the first entry. */
export const GENESIS = '0'.repeat(64);

/** 256-bit, as for the pseudonym key (NIST SP 800-107: at least the hash length). */
export const AUDIT_KEY_BYTES = 32;
export const newAuditKey = (): Buffer => randomBytes(AUDIT_KEY_BYTES);

const hmac = (key: Buffer, text: string): string => createHmac('sha256', key).update(text).digest('hex');

/**
 * Canonical JSON after RFC 8785 (JCS) for the values the log holds: object keys sorted by
 * UTF-16 code units, no whitespace, numbers as ECMAScript prints them. Non-finite
 * numbers and undefined have no JSON form and are refused rather than silently changed.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new TypeError('canonical JSON has no form for a non-finite number');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON has no form for ${typeof value}`);
}

export function entryHash(key: Buffer, e: Omit<AuditEntry, 'hash'>): string {
  const body = { seq: e.seq, at: e.at, actor: e.actor, action: e.action, target: e.target, detail: e.detail, prevHash: e.prevHash };
  return hmac(key, canonicalJson(body));
}

/** The head checkpoint for the chain's last entry. */
export function auditHead(key: Buffer, seq: number, hash: string): AuditHead {
  return { seq, hash, mac: hmac(key, `audit-head|${seq}|${hash}`) };
}

const sameHex = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * Walks entries oldest first; the first gap, broken link or wrong hash is reported. Then
 * the chain must end where the head checkpoint (asked for after the walk) says: a
 * missing or forged checkpoint, or a chain shorter than it (newest entries cut off),
 * does not verify.
 */
export async function verifyChain(
  key: Buffer,
  entries: AsyncIterable<AuditEntry> | Iterable<AuditEntry>,
  headOf: () => AuditHead | undefined,
): Promise<AuditVerdict> {
  let prev = GENESIS;
  let expected = 1;
  for await (const e of entries) {
    const fail = (reason: string): AuditVerdict => ({ ok: false, entries: expected - 1, brokenAt: e.seq, reason });
    if (e.seq !== expected) return fail(`expected entry ${expected}, found ${e.seq}: an entry is missing or out of order`);
    if (e.prevHash !== prev) return fail(`prevHash does not match the hash of entry ${expected - 1}`);
    let recomputed: string;
    try {
      recomputed = entryHash(key, e);
    } catch (err) {
      return fail(`entry cannot be hashed: ${(err as Error).message}`);
    }
    if (recomputed !== e.hash) return fail('hash does not match the entry: it was changed after it was written');
    prev = e.hash;
    expected++;
  }
  const count = expected - 1;
  // Asked after the walk: the source reads the checkpoint once it has every entry up to it.
  const head = headOf();
  const broken = (reason: string): AuditVerdict => ({ ok: false, entries: count, brokenAt: count + 1, reason });
  if (head === undefined) return count === 0 ? { ok: true, entries: 0, head: GENESIS } : broken('the head checkpoint is missing');
  if (!sameHex(auditHead(key, head.seq, head.hash).mac, head.mac))
    return broken('the head checkpoint does not verify: it was changed or written without the key');
  if (head.seq > count) return broken(`the chain ends at entry ${count} but the head checkpoint names entry ${head.seq}: the newest entries were removed`);
  if (head.seq < count || head.hash !== prev) return broken(`the chain does not end at the head checkpoint (entry ${head.seq})`);
  return { ok: true, entries: count, head: prev };
}
