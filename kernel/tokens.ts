import type { Principal, Role } from './principal.js';

/**
 * API bearer tokens. A token is a 256-bit random value shown once at issue and stored
 * only as its digest (kernel/secrets.ts tokenDigest); verification answers from memory.
 */
export interface NewToken {
  readonly role: Role;
  /** clinician: the sites the token may see. */
  readonly siteIds?: readonly string[];
  /** vendor: the vendor whose devices the token may see. */
  readonly vendorId?: string;
  /** researcher: the trials the token may see. */
  readonly trialIds?: readonly string[];
  readonly label: string;
  /** Epoch ms; null never expires. */
  readonly expiresAt: number | null;
}

/** What listing shows about a token: never the token, never its digest. */
export interface TokenInfo {
  readonly id: string;
  readonly role: Role;
  readonly siteIds: readonly string[];
  readonly vendorId: string | null;
  readonly trialIds: readonly string[];
  readonly label: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
}

export interface TokenRegistry {
  issueToken(token: NewToken): Promise<{ id: string; token: string }>;
  /** Unknown, expired (expiresAt <= now) or revoked → undefined. */
  verifyToken(token: string, now: number): Promise<Principal | undefined>;
  /** Revoking takes effect at once; revoking an unknown id is NOT_FOUND, a revoked one is a no-op. */
  revokeToken(id: string): Promise<void>;
  listTokens(): Promise<TokenInfo[]>;
  /** Whether an admin token exists that is neither revoked nor expired now. */
  hasAdminToken(): Promise<boolean>;
}
