import { z } from 'zod';
import { ALARM_RULES, ALARM_STATES, AlarmSettingsInput, type Alarm, type ParticipantAlarmSettings } from '../../kernel/alarms.js';
import { VKP_ALERT } from '../../kernel/vkp.js';
import { Id, IsoTime, iso } from '../schemas/common.js';

/** HTTP shapes of alarms and per-participant alarm settings. */
export const ActorDto = z.object({
  id: z.string().describe('Token id, or "hub" when the hub acted'),
  label: z.string().describe("The token's label"),
  person: z.string().optional().describe('Who acted at the board: the name or initials given at the start of the shift'),
});

export const AlarmDto = z.object({
  id: z.string(),
  rule: z.enum(ALARM_RULES).describe("The hub's rule that raised it; `event` for any other event the catalogue gives an alarm"),
  event: z.string().describe('The catalogue event the alarm reports (GET /v1/catalogue): its labels name the alarm'),
  alertCode: z.string().describe('VKP alert code (vkp-alert-code-v090), e.g. "4.1" Fall'),
  alertDisplay: z.string().describe("The code's Norwegian display text from VKP"),
  severity: z.number().int().describe('VKP severity: 10 normal, 20 moderate, 30 serious, 40 critical'),
  state: z.enum(ALARM_STATES),
  family: z.string().describe('Device family (GET /v1/catalogue)'),
  siteId: Id.nullable(),
  roomId: Id.nullable(),
  deviceId: Id.nullable(),
  trialId: Id.nullable(),
  participantId: Id.nullable(),
  raisedAt: IsoTime,
  lastTriggeredAt: IsoTime,
  triggerCount: z.number().int().describe('How often the condition was seen while the alarm was open'),
  acknowledgedAt: IsoTime.nullable(),
  acknowledgedBy: ActorDto.nullable(),
  ackComment: z.string().nullable(),
  closedAt: IsoTime.nullable(),
  closedBy: ActorDto.nullable(),
  closeComment: z.string().nullable(),
  detail: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])),
  notify: z.array(z.string()).describe("Who is alerted, from the participant's settings"),
  withheld: z
    .boolean()
    .describe(
      'true when the participant has not consented to care.live: the alarm is shown, but whom it is about, its measured detail and comments are withheld',
    ),
  updatedAt: IsoTime,
  version: z.number().int(),
});
export type AlarmDto = z.infer<typeof AlarmDto>;

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export function toAlarmDto(a: Alarm, withheld: boolean): AlarmDto {
  return {
    id: a.id,
    rule: a.rule,
    event: a.event,
    alertCode: a.alertCode,
    alertDisplay: VKP_ALERT.display.get(a.alertCode) ?? a.alertCode,
    severity: a.severity,
    state: a.state,
    family: a.family,
    siteId: a.siteId,
    roomId: a.roomId,
    deviceId: a.deviceId,
    trialId: withheld ? null : a.trialId,
    participantId: withheld ? null : a.participantId,
    raisedAt: iso(a.raisedAt),
    lastTriggeredAt: iso(a.lastTriggeredAt),
    triggerCount: a.triggerCount,
    acknowledgedAt: isoOrNull(a.acknowledgedAt),
    acknowledgedBy: a.acknowledgedBy,
    ackComment: withheld ? null : a.ackComment,
    closedAt: isoOrNull(a.closedAt),
    closedBy: a.closedBy,
    closeComment: withheld ? null : a.closeComment,
    detail: withheld ? {} : { ...a.detail },
    notify: withheld ? [] : [...a.notify],
    withheld,
    updatedAt: iso(a.updatedAt),
    version: a.version,
  };
}

export const AlarmActionBody = z
  .object({
    comment: z.string().trim().max(500).optional().describe('Free text, e.g. what was found at the bedside'),
    person: z
      .string()
      .trim()
      .min(1)
      .max(60)
      .optional()
      .describe('Who acts: the name or initials entered at the start of the shift on the board; stored with the token'),
  })
  .nullish()
  .describe('An optional comment and who acts; the body may be left out');

export const AlarmListQuery = z.object({
  siteId: Id.optional().describe('Only this site; a clinician sees only sites the token is bound to'),
  state: z.enum(['open', 'closed', 'all']).default('open').describe('open: raised or acknowledged; closed: resolved or false alarm'),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});

export const SettingsDto = AlarmSettingsInput.extend({
  participantId: Id,
  updatedAt: IsoTime.nullable().describe('null while the participant has only the defaults'),
  updatedBy: ActorDto.nullable(),
});

export const toSettingsDto = (s: ParticipantAlarmSettings): z.infer<typeof SettingsDto> => ({ ...s, updatedAt: iso(s.updatedAt), updatedBy: s.updatedBy });
