import { z } from 'zod';
import { HubError } from '../../kernel/errors.js';
import { SafeId } from '../../kernel/ids.js';
import type { Site } from '../../kernel/registry.js';
import { TOKEN_ROLES, type Role } from '../../kernel/principal.js';

/**
 * What the registry accepts, checked here whoever the caller is (API, demo seeding,
 * tests): the API validates the HTTP shape, this validates the domain's invariants.
 */

// A record keyed by the union catches a kind added to or removed from kernel/registry.ts.
const SITE_KINDS = { 'patient-room': true, 'demo-flat': true, other: true } satisfies Record<Site['kind'], true>;

const Name = z.string().trim().min(1).max(200);

export const SiteInput = z.object({
  id: SafeId,
  name: Name,
  kind: z.enum(Object.keys(SITE_KINDS) as [Site['kind'], ...Site['kind'][]]),
});

export const RoomInput = z.object({
  id: SafeId,
  siteId: SafeId,
  name: Name,
  beds: z.number().int().min(0).max(1000),
});

export const VendorInput = z.object({ id: SafeId, name: Name });

export const DeviceInput = z.object({
  id: SafeId,
  vendorId: SafeId,
  profileId: SafeId,
  siteId: SafeId.nullish().transform((v) => v ?? null),
  roomId: SafeId.nullish().transform((v) => v ?? null),
  label: z.string().trim().max(200).default(''),
});

export const TokenInput = z
  .object({
    role: z.enum(TOKEN_ROLES as [Role, ...Role[]]),
    siteIds: z.array(SafeId).max(1000).optional(),
    vendorId: SafeId.optional(),
    trialIds: z.array(SafeId).max(1000).optional(),
    label: Name,
    expiresAt: z.number().int().positive().nullable(),
  })
  .superRefine((t, ctx) => {
    // Each role carries exactly its own binding, so a token can never be wider than its role says.
    const bindings: Readonly<Record<'siteIds' | 'vendorId' | 'trialIds', readonly Role[]>> = {
      siteIds: ['clinician', 'board'],
      vendorId: ['vendor'],
      trialIds: ['researcher'],
    };
    for (const [field, owners] of Object.entries(bindings)) {
      const value = t[field as keyof typeof bindings];
      const given = Array.isArray(value) ? value.length > 0 : value !== undefined;
      const owns = owners.includes(t.role);
      if (owns && !given) ctx.addIssue({ code: 'custom', path: [field], message: `required for role ${t.role}` });
      if (!owns && value !== undefined) ctx.addIssue({ code: 'custom', path: [field], message: `only for role ${owners.join(' or ')}` });
    }
    // A ward tablet shows one ward.
    if (t.role === 'board' && t.siteIds?.length !== 1) ctx.addIssue({ code: 'custom', path: ['siteIds'], message: 'exactly one site for role board' });
  });

/** Parses or throws VALIDATION_FAILED naming each offending field. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new HubError('VALIDATION_FAILED', parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`).join('; '));
}

export const notFound = (what: string, id: string): HubError => new HubError('NOT_FOUND', `no ${what} "${id}"`);
export const conflict = (what: string, id: string): HubError => new HubError('CONFLICT', `${what} "${id}" already exists`);
export const badReference = (field: string, what: string, id: string): HubError => new HubError('VALIDATION_FAILED', `${field}: no ${what} "${id}"`);
