import { randomBytes } from 'node:crypto';
import { HubError } from '../../kernel/errors.js';
import type { Principal, Role } from '../../kernel/principal.js';
import { ROLES } from '../../kernel/principal.js';
import { newSecret, tokenDigest } from '../../kernel/secrets.js';
import type { TokenInfo, TokenRegistry } from '../../kernel/tokens.js';
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
  if (!ROLES.includes(r.role as Role)) throw new HubError('INTERNAL', `api_tokens row ${r.id} has unknown role "${r.role}"`);
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
  }
}

interface Live {
  readonly info: TokenInfo;
  readonly principal: Principal;
}

/**
 * API tokens. Every request verifies one, so live (unrevoked) tokens are held in memory
 * keyed by digest; the table is read at open and each write updates the map after it
 * commits.
 */
export async function sqlTokens(sql: SqlClient, now: () => number): Promise<TokenRegistry> {
  const live = new Map<string, Live>();
  const remember = (digest: string, info: TokenInfo): void => {
    live.set(digest, { info, principal: Object.freeze(principalOf(info)) });
  };
  for (const row of await sql.query<TokenRow>(`SELECT ${COLUMNS} FROM api_tokens WHERE revoked_at IS NULL`)) remember(row.digest, toInfo(row));

  const isValid = (info: TokenInfo, at: number): boolean => info.revokedAt === null && (info.expiresAt === null || at < info.expiresAt);

  return {
    async issueToken(input) {
      const t = parseInput(TokenInput, input);
      const createdAt = now();
      if (t.expiresAt !== null && t.expiresAt <= createdAt) throw new HubError('VALIDATION_FAILED', 'expiresAt: must be in the future');
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
          info.id, digest, info.role, info.vendorId, JSON.stringify(info.siteIds), JSON.stringify(info.trialIds), info.label, info.createdAt, info.expiresAt, null,
        ]);
      });
      remember(digest, info);
      return { id: info.id, token };
    },

    async verifyToken(token, at) {
      const entry = live.get(tokenDigest(token));
      return entry && isValid(entry.info, at) ? entry.principal : undefined;
    },

    async revokeToken(id) {
      const rows = await sql.query<{ digest: string }>('UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING digest', [now(), id]);
      const [row] = rows;
      if (row) {
        live.delete(row.digest);
        return;
      }
      if ((await sql.query('SELECT 1 FROM api_tokens WHERE id = $1', [id])).length === 0) throw notFound('token', id);
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
