import { randomBytes } from 'node:crypto';
import { HubError } from '../../kernel/errors.js';
import type { Principal, Role } from '../../kernel/principal.js';
import { TOKEN_ROLES } from '../../kernel/principal.js';
import { newSecret, tokenDigest } from '../../kernel/secrets.js';
import type { TokenInfo, TokenRegistry } from '../../kernel/tokens.js';
import type { CacheFreshness } from './freshness.js';
import type { SqlClient } from './sql-client.js';
import { TokenInput, badReference, notFound, parseInput } from './inputs.js';

interface TokenRow {
  id: string;
  digest: string;
  role: string;
  vendor_id: string | null;
  site_ids: string;
  trial_ids: string;
  label: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

const COLUMNS = 'id, digest, role, vendor_id, site_ids, trial_ids, label, created_at, expires_at, revoked_at';

function toInfo(r: TokenRow): TokenInfo {
  if (!TOKEN_ROLES.includes(r.role as Role)) throw new HubError('INTERNAL', `api_tokens row ${r.id} has unknown role "${r.role}"`);
  return {
    id: r.id,
    role: r.role as Role,
    vendorId: r.vendor_id,
    siteIds: JSON.parse(r.site_ids) as string[],
    trialIds: JSON.parse(r.trial_ids) as string[],
    label: r.label,
    createdAt: Number(r.created_at),
    expiresAt: r.expires_at === null ? null : Number(r.expires_at),
    revokedAt: r.revoked_at === null ? null : Number(r.revoked_at),
  };
}

function principalOf(t: TokenInfo): Principal {
  switch (t.role) {
    case 'admin':
      return { role: 'admin', tokenId: t.id };
    case 'clinician':
      return { role: 'clinician', tokenId: t.id, siteIds: t.siteIds };
    case 'vendor':
      return { role: 'vendor', tokenId: t.id, vendorId: t.vendorId ?? '' };
    case 'researcher':
      return { role: 'researcher', tokenId: t.id, trialIds: t.trialIds };
    case 'board':
      return { role: 'board', tokenId: t.id, siteIds: t.siteIds };
  }
}

interface Live {
  readonly info: TokenInfo;
  readonly principal: Principal;
}

/**
 * The live (unrevoked) tokens, keyed by digest: every request verifies one, so they are
 * held in memory. Loaded at open, written through by issue and revoke after they commit,
 * and replaced whole by a reload (stores/sql/read-side.ts).
 */
export class LiveTokens {
  private byDigest = new Map<string, Live>();

  remember(digest: string, info: TokenInfo): void {
    this.byDigest.set(digest, { info, principal: Object.freeze(principalOf(info)) });
  }

  forget(digest: string): void {
    this.byDigest.delete(digest);
  }

  get(digest: string): Live | undefined {
    return this.byDigest.get(digest);
  }

  values(): IterableIterator<Live> {
    return this.byDigest.values();
  }

  /** Takes over the tokens of `next`, a freshly loaded set nobody else holds, in one step. */
  replaceWith(next: LiveTokens): void {
    this.byDigest = next.byDigest;
  }
}

/** Reads the live tokens into `into`. */
export async function loadLiveTokens(sql: SqlClient, into: LiveTokens): Promise<void> {
  for (const row of await sql.query<TokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE revoked_at IS NULL`)) into.remember(row.digest, toInfo(row));
}

/** API tokens, stored as digests; `live` (loaded by the caller) answers verification. */
export function sqlTokens(sql: SqlClient, now: () => number, live: LiveTokens, freshness: CacheFreshness): TokenRegistry {
  const isValid = (info: TokenInfo, at: number): boolean => info.revokedAt === null && (info.expiresAt === null || at < info.expiresAt);

  return {
    async issueToken(input) {
      const t = parseInput(TokenInput, input);
      const createdAt = now();
      if (t.expiresAt !== null && t.expiresAt <= createdAt) throw new HubError('VALIDATION_FAILED', 'expiresAt: must be in the future');
      const ticket = freshness.begin();
      const token = newSecret();
      const digest = tokenDigest(token);
      const info: TokenInfo = {
        id: `tok-${randomBytes(12).toString('base64url')}`,
        role: t.role,
        vendorId: t.vendorId ?? null,
        siteIds: [...new Set(t.siteIds ?? [])],
        trialIds: [...new Set(t.trialIds ?? [])],
        label: t.label,
        createdAt,
        expiresAt: t.expiresAt,
        revokedAt: null,
      };
      await sql.transaction(async (tx) => {
        // A binding to a vendor, site or trial that does not exist would be a token that sees nothing, silently.
        if (info.vendorId !== null && (await tx.query('SELECT 1 FROM vendors WHERE id = $1', [info.vendorId])).length === 0) {
          throw badReference('vendorId', 'vendor', info.vendorId);
        }
        for (const siteId of info.siteIds) {
          if ((await tx.query('SELECT 1 FROM sites WHERE id = $1', [siteId])).length === 0) throw badReference('siteIds', 'site', siteId);
        }
        for (const trialId of info.trialIds) {
          if ((await tx.query('SELECT 1 FROM trials WHERE id = $1', [trialId])).length === 0) throw badReference('trialIds', 'trial', trialId);
        }
        await tx.query(`INSERT INTO api_tokens (${COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, [
          info.id,
          digest,
          info.role,
          info.vendorId,
          JSON.stringify(info.siteIds),
          JSON.stringify(info.trialIds),
          info.label,
          info.createdAt,
          info.expiresAt,
          null,
        ]);
      });
      freshness.writeThrough(ticket, () => live.remember(digest, info));
      return { id: info.id, token };
    },

    async verifyToken(token, at) {
      const entry = live.get(tokenDigest(token));
      return entry && isValid(entry.info, at) ? entry.principal : undefined;
    },

    async revokeToken(id) {
      const ticket = freshness.begin();
      const rows = await sql.query<{ digest: string }>('UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING digest', [
        now(),
        id,
      ]);
      const [row] = rows;
      if (row) {
        freshness.writeThrough(ticket, () => live.forget(row.digest));
        return;
      }
      const [revoked] = await sql.query<{ digest: string }>('SELECT digest FROM api_tokens WHERE id = $1', [id]);
      if (!revoked) throw notFound('token', id);
      // Revoked already, maybe by another process whose change has not been reloaded here yet.
      freshness.writeThrough(ticket, () => live.forget(revoked.digest));
    },

    async listTokens() {
      return (await sql.query<TokenRow>(`SELECT ${COLUMNS} FROM api_tokens ORDER BY created_at, id`)).map(toInfo);
    },

    async hasAdminToken() {
      const at = now();
      for (const { info } of live.values()) if (info.role === 'admin' && isValid(info, at)) return true;
      return false;
    },
  };
}
