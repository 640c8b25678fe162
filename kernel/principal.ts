/** Who calls the API. Every call is authorised by role, binding and, for data, consent. */
export type Principal =
  | { readonly role: 'admin'; readonly tokenId: string }
  | { readonly role: 'clinician'; readonly tokenId: string; readonly siteIds: readonly string[] }
  | { readonly role: 'vendor'; readonly tokenId: string; readonly vendorId: string }
  | { readonly role: 'researcher'; readonly tokenId: string; readonly trialIds: readonly string[] }
  /** A paired ward tablet (api/ward/pairing.ts): one site's board and alarm actions, nothing else. */
  | { readonly role: 'board'; readonly tokenId: string; readonly siteIds: readonly string[] };

export type Role = Principal['role'];
/** The roles a token can be issued with through POST /v1/tokens. */
export type IssuedRole = Exclude<Role, 'board'>;
export const ROLES: readonly IssuedRole[] = ['admin', 'clinician', 'vendor', 'researcher'];
/** Every role a stored token may have: board tokens come only from pairing a ward tablet. */
export const TOKEN_ROLES: readonly Role[] = [...ROLES, 'board'];
