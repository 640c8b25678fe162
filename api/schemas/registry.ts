import { z } from 'zod';
import type { Device, Room, Site, Vendor } from '../../kernel/registry.js';
import { ROLES, TOKEN_ROLES, type Role } from '../../kernel/principal.js';
import type { TokenInfo } from '../../kernel/tokens.js';
import { BodyInstant, Id, IsoTime, Name, iso } from './common.js';
import { example } from './examples.js';

/** HTTP shapes of the registry. The registry re-checks its own invariants (stores/sql/inputs.ts). */

// A record keyed by the union catches a kind added to or removed from kernel/registry.ts.
const SITE_KINDS = { 'patient-room': true, 'demo-flat': true, other: true } satisfies Record<Site['kind'], true>;
const SiteKind = z.enum(Object.keys(SITE_KINDS) as [Site['kind'], ...Site['kind'][]]);

export const NewSiteBody = z
  .object({ id: Id, name: Name.describe('Display name'), kind: SiteKind })
  .meta(example({ id: 'levanger-room', name: 'Fremtidens pasientrom, Levanger hospital', kind: 'patient-room' }));
export const SiteDto = z.object({ id: Id, name: z.string(), kind: SiteKind, createdAt: IsoTime });
export const toSiteDto = (s: Site): z.infer<typeof SiteDto> => ({ id: s.id, name: s.name, kind: s.kind, createdAt: iso(s.createdAt) });

export const NewRoomBody = z
  .object({ id: Id, name: Name, beds: z.number().int().min(0).max(1000).describe('Beds in the room; 0 for a room without') })
  .meta(example({ id: 'levanger-room-1', name: 'Patient room 1', beds: 1 }));
export const RoomDto = z.object({ id: Id, siteId: Id, name: z.string(), beds: z.number().int(), createdAt: IsoTime });
export const toRoomDto = (r: Room): z.infer<typeof RoomDto> => ({ id: r.id, siteId: r.siteId, name: r.name, beds: r.beds, createdAt: iso(r.createdAt) });

export const NewVendorBody = z.object({ id: Id, name: Name }).meta(example({ id: 'aquascale', name: 'AquaScale' }));
export const VendorDto = z.object({ id: Id, name: z.string(), createdAt: IsoTime });
export const toVendorDto = (v: Vendor): z.infer<typeof VendorDto> => ({ id: v.id, name: v.name, createdAt: iso(v.createdAt) });

export const NewDeviceBody = z
  .object({
    id: Id.describe('The device id, also its MQTT username and client id; usually the serial number'),
    vendorId: Id,
    profileId: Id.describe('A device profile id from GET /v1/profiles'),
    siteId: Id.nullish().describe('Where the device is; implied by roomId when only that is given'),
    roomId: Id.nullish().describe('Room inside siteId'),
    label: z.string().trim().max(200).optional(),
  })
  .meta(example({ id: 'AQ-3001', vendorId: 'aquascale', profileId: 'aquascale', roomId: 'levanger-room-1', label: 'Fluid-balance station' }));
export const DeviceDto = z.object({
  id: Id,
  vendorId: Id,
  profileId: Id,
  siteId: Id.nullable(),
  roomId: Id.nullable(),
  label: z.string(),
  active: z.boolean().describe('An inactive device cannot connect'),
  createdAt: IsoTime,
});
export const toDeviceDto = (d: Device): z.infer<typeof DeviceDto> => ({
  id: d.id,
  vendorId: d.vendorId,
  profileId: d.profileId,
  siteId: d.siteId,
  roomId: d.roomId,
  label: d.label,
  active: d.active,
  createdAt: iso(d.createdAt),
});
export const DeviceFilter = z.object({ vendorId: Id.optional(), siteId: Id.optional() });
export const PatchDeviceBody = z
  .object({ active: z.boolean().describe('false disconnects nothing already connected but refuses new connections') })
  .meta(example({ active: false }));

export const MqttAccess = z
  .object({
    username: z.string().describe('MQTT username and client id: the device id'),
    publishTopics: z.array(z.string()).describe('Topics the device may publish on'),
    commandTopic: z.string().describe('Topic the device may subscribe to for commands'),
  })
  .describe('How the device connects');

export const SecretDto = z.string().describe('The MQTT password. Shown only in this response; the hub keeps a scrypt hash.');

const RoleEnum = z.enum(ROLES as [Role, ...Role[]]);
export const NewTokenBody = z
  .object({
    role: RoleEnum,
    vendorId: Id.optional().describe('role vendor: the vendor whose devices the token may read'),
    siteIds: z.array(Id).max(1000).optional().describe('role clinician: the sites the token may see'),
    trialIds: z.array(Id).max(1000).optional().describe('role researcher: the trials the token may see'),
    label: Name.describe('Who or what holds the token'),
    expiresAt: BodyInstant.nullable().default(null).describe('Expiry as epoch ms or ISO 8601; null never expires'),
  })
  .meta(example({ role: 'researcher', trialIds: ['fall-2025'], label: 'NTNU study team', expiresAt: '2025-12-31T23:59:59Z' }));
export const TokenDto = z.object({
  id: z.string(),
  role: z.enum(TOKEN_ROLES as [Role, ...Role[]]).describe('board: a paired ward tablet (POST /v1/board-pairings/exchange)'),
  vendorId: Id.nullable(),
  siteIds: z.array(Id),
  trialIds: z.array(Id),
  label: z.string(),
  createdAt: IsoTime,
  expiresAt: IsoTime.nullable(),
  revokedAt: IsoTime.nullable(),
});
export const toTokenDto = (t: TokenInfo): z.infer<typeof TokenDto> => ({
  id: t.id,
  role: t.role,
  vendorId: t.vendorId,
  siteIds: [...t.siteIds],
  trialIds: [...t.trialIds],
  label: t.label,
  createdAt: iso(t.createdAt),
  expiresAt: t.expiresAt === null ? null : iso(t.expiresAt),
  revokedAt: t.revokedAt === null ? null : iso(t.revokedAt),
});
export const TokenIdParams = z.object({ id: z.string().min(1).max(100) });
