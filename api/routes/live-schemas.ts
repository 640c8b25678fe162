import { z } from 'zod';
import type { DeviceHealth } from '../../kernel/alarms.js';
import { Id, IsoTime, iso } from '../schemas/common.js';

export const HealthDto = z.object({
  deviceId: Id,
  roomId: Id.nullable(),
  lastSeenAt: IsoTime.nullable().describe('When the hub last heard from the device; null if never since alarms were kept'),
  offlineSince: IsoTime.nullable().describe('Set while the device is offline (silence or MQTT will)'),
  battery: z.number().nullable().describe('Latest battery level, %'),
  mains: z.boolean().nullable().describe('On mains power, when the device says'),
});

export const toHealthDto = (h: DeviceHealth): z.infer<typeof HealthDto> => ({
  deviceId: h.deviceId,
  roomId: h.roomId,
  lastSeenAt: h.lastSeenAt === null ? null : iso(h.lastSeenAt),
  offlineSince: h.offlineSince === null ? null : iso(h.offlineSince),
  battery: h.battery,
  mains: h.mains,
});

export const SiteQuery = z.object({ siteId: Id.describe('The site to watch') });
