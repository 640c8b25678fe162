import { z } from 'zod';
import type { HubEvent, Point, Reading, Rejection } from '../../kernel/telemetry.js';
import { RejectionCodes } from '../../kernel/telemetry.js';
import { Id, IsoTime, QueryInstant, iso } from './common.js';

/**
 * HTTP shapes of telemetry. Who asks decides the view: a vendor sees its devices'
 * data but never where or whom it was measured (site, room, trial, participant).
 */
export type View = 'full' | 'vendor';

export const MAX_LIMIT = 10_000;

const Limit = z.coerce.number().int().min(1).max(MAX_LIMIT).default(100).describe(`How many, newest first; at most ${MAX_LIMIT}`);
const beforeTo = (q: { from?: number | undefined; to?: number | undefined }): boolean => q.from === undefined || q.to === undefined || q.from < q.to;

export const PointsQuery = z
  .object({
    from: QueryInstant.optional().describe('Device time from (inclusive): epoch ms or ISO 8601'),
    to: QueryInstant.optional().describe('Device time to (exclusive): epoch ms or ISO 8601'),
    name: z.string().min(1).max(64).optional().describe('Only this measurement (readings) or event type (events)'),
    limit: Limit,
  })
  .refine(beforeTo, { message: 'must be after from', path: ['to'] });

export const RejectionsQuery = z
  .object({
    from: QueryInstant.optional().describe('Received time from (inclusive): epoch ms or ISO 8601'),
    to: QueryInstant.optional().describe('Received time to (exclusive): epoch ms or ISO 8601'),
    limit: Limit,
  })
  .refine(beforeTo, { message: 'must be after from', path: ['to'] });

export const RejectionSummaryQuery = z
  .object({ from: QueryInstant.optional(), to: QueryInstant.optional() })
  .refine(beforeTo, { message: 'must be after from', path: ['to'] });

const MessageIdDto = z.string().regex(/^\d+$/).describe('64-bit message id as a decimal string (exceeds JSON number precision)');

const PointBase = {
  messageId: MessageIdDto,
  seq: z.number().int().describe('Index of the point within its message'),
  deviceId: Id,
  profileId: Id,
  profileVersion: z.string().optional().describe('The version of the profile that decoded the message; absent on points stored before versions were recorded'),
  family: z.string().describe('Device family (GET /v1/catalogue)'),
  name: z.string(),
  deviceTime: IsoTime.describe('When the device measured, by its clock'),
  receivedAt: IsoTime.describe('When the hub received the message'),
  clockSkewed: z.boolean().describe("The device clock differed from the hub's beyond the allowed skew"),
  siteId: Id.nullable().optional().describe('Absent for vendor tokens'),
  roomId: Id.nullable().optional().describe('Absent for vendor tokens'),
  trialId: Id.nullable().optional().describe('Absent for vendor tokens'),
  participantId: Id.nullable().optional().describe('Absent for vendor tokens'),
};

const Attributes = z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]));

export const ReadingDto = z.object({
  ...PointBase,
  value: z.number(),
  unit: z.string().describe('UCUM unit of the measurement catalogue'),
  attributes: Attributes.optional().describe(
    "The message's fields stored with the reading: those the profile does not map, when it keeps them (`unmapped: keep`). Absent when there are none. Released with the value, under the same consent",
  ),
});

export const EventDto = z.object({
  ...PointBase,
  alertCode: z.string().nullable().describe('VKP alert code, e.g. "4.1" Fall'),
  dispenseCode: z.string().nullable().describe('VKP medication-dispense event code'),
  severity: z.number().int().describe('VKP severity: 0, 10, 20, 30 or 40'),
  attributes: Attributes,
});

export const RejectionDto = z.object({
  messageId: MessageIdDto,
  deviceId: Id,
  profileId: z.string().nullable(),
  topic: z.string(),
  code: z.enum(RejectionCodes),
  path: z.string().describe('JSON path of the offending field; empty for the whole payload'),
  message: z.string(),
  payload: z
    .string()
    .nullable()
    .describe(
      "The payload as received (truncated when over the size limit); null when the participant the device was assigned to had not given vendor.telemetry consent when it arrived (or has withdrawn it), and once that participant's data was erased",
    ),
  receivedAt: IsoTime,
  siteId: Id.nullable().optional().describe('Where the device was assigned when the message arrived; absent for vendor tokens'),
  roomId: Id.nullable().optional().describe('Absent for vendor tokens'),
  trialId: Id.nullable().optional().describe('Absent for vendor tokens'),
  participantId: Id.nullable().optional().describe('Absent for vendor tokens'),
});

export const RejectionSummaryDto = z.object({
  deviceId: Id,
  total: z.number().int(),
  counts: z.partialRecord(z.enum(RejectionCodes), z.number().int()).describe('Rejections per reason code'),
});

function base(p: Point, view: View) {
  const common = {
    messageId: p.messageId.toString(),
    seq: p.seq,
    deviceId: p.deviceId,
    profileId: p.profileId,
    profileVersion: p.profileVersion ?? undefined,
    family: p.family,
    name: p.name,
    deviceTime: iso(p.deviceTime),
    receivedAt: iso(p.receivedAt),
    clockSkewed: p.clockSkewed,
  };
  // Built field by field rather than by deleting: a field added to Point later stays out of the vendor view.
  return view === 'vendor' ? common : { ...common, siteId: p.siteId, roomId: p.roomId, trialId: p.trialId, participantId: p.participantId };
}

export const toReadingDto = (r: Reading, view: View): z.infer<typeof ReadingDto> => ({
  ...base(r, view),
  value: r.value,
  unit: r.unit,
  ...(r.attributes ? { attributes: { ...r.attributes } } : {}),
});

export const toEventDto = (e: HubEvent, view: View): z.infer<typeof EventDto> => ({
  ...base(e, view),
  alertCode: e.alertCode,
  dispenseCode: e.dispenseCode,
  severity: e.severity,
  attributes: { ...e.attributes },
});

/** `payloadReleased`: whether consent lets this caller read the raw payload (api/routes/rejections.ts). */
export function toRejectionDto(r: Rejection, view: View, payloadReleased: boolean): z.infer<typeof RejectionDto> {
  const common = {
    messageId: r.messageId.toString(),
    deviceId: r.deviceId,
    profileId: r.profileId,
    topic: r.topic,
    code: r.code,
    path: r.path,
    message: r.message,
    payload: payloadReleased ? r.payload : null,
    receivedAt: iso(r.receivedAt),
  };
  return view === 'vendor' ? common : { ...common, siteId: r.siteId, roomId: r.roomId, trialId: r.trialId, participantId: r.participantId };
}
