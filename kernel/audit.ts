import { createHash } from 'node:crypto';
import type { Role } from './principal.js';

/**
 * The audit log: append-only, one entry per data release and per administrative change,
 * hash-chained so that editing, reordering or deleting an entry in the middle is
 * detectable. Each entry's hash is SHA-256 over the canonical JSON of the entry
 * (including the previous entry's hash), hex encoded.
 *
 * A chain alone cannot reveal that its newest entries were cut off; verify() reports the
 * head hash and count so that an operator can note them elsewhere (anchoring) and compare.
 */
export type Json = string | number | boolean | null | readonly Json[] | { readonly [key: string]: Json };

export interface AuditActor {
  /** 'system' for the hub itself (e.g. issuing the bootstrap admin token). */
  readonly role: Role | 'system';
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

export function entryHash(e: Omit<AuditEntry, 'hash'>): string {
  const body = { seq: e.seq, at: e.at, actor: e.actor, action: e.action, target: e.target, detail: e.detail, prevHash: e.prevHash };
  return createHash('sha256').update(canonicalJson(body)).digest('hex');
}

/** Walks entries oldest first; the first gap, broken link or wrong hash is reported. */
export async function verifyChain(entries: AsyncIterable<AuditEntry> | Iterable<AuditEntry>): Promise<AuditVerdict> {
  let prev = GENESIS;
  let expected = 1;
  for await (const e of entries) {
    const fail = (reason: string): AuditVerdict => ({ ok: false, entries: expected - 1, brokenAt: e.seq, reason });
    if (e.seq !== expected) return fail(`expected entry ${expected}, found ${e.seq}: an entry is missing or out of order`);
    if (e.prevHash !== prev) return fail(`prevHash does not match the hash of entry ${expected - 1}`);
    let recomputed: string;
    try {
      recomputed = entryHash(e);
    } catch (err) {
      return fail(`entry cannot be hashed: ${(err as Error).message}`);
    }
    if (recomputed !== e.hash) return fail('hash does not match the entry: it was changed after it was written');
    prev = e.hash;
    expected++;
  }
  return { ok: true, entries: expected - 1, head: prev };
}
