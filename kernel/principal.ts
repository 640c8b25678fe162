/** Who calls the API. Every call is authorised by role, binding and, for data, consent. */
export type Principal =
  | { readonly role: 'admin'; readonly tokenId: string }
  | { readonly role: 'clinician'; readonly tokenId: string; readonly siteIds: readonly string[] }
  | { readonly role: 'vendor'; readonly tokenId: string; readonly vendorId: string }
  | { readonly role: 'researcher'; readonly tokenId: string; readonly trialIds: readonly string[] };

export type Role = Principal['role'];
export const ROLES: readonly Role[] = ['admin', 'clinician', 'vendor', 'researcher'];
