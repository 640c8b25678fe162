import { z } from 'zod';
import { CONSENT_SCOPES } from '../../kernel/consent.js';
import { TRIAL_STATUSES, type Assignment, type ConsentRecord, type Participant, type Period, statusAt, type Trial } from '../../kernel/trials.js';
import { BodyInstant, Id, IsoTime, Name, iso } from './common.js';
import { example } from './examples.js';

/** HTTP shapes of trials, participants, assignments and consents. The registry re-checks its invariants (stores/sql/trial-inputs.ts). */

const PeriodBody = z.object({ from: BodyInstant.describe('Start (inclusive)'), to: BodyInstant.describe('End (exclusive)') });
const PeriodDto = z.object({ from: IsoTime, to: IsoTime });
const toPeriodDto = (p: Period): z.infer<typeof PeriodDto> => ({ from: iso(p.from), to: iso(p.to) });
export const TrialStatus = z.enum(TRIAL_STATUSES);
export const ConsentScope = z
  .enum(CONSENT_SCOPES)
  .describe(
    'care.live: clinicians of the site, live; vendor.telemetry: the device vendor, without participant reference; research: the trial researchers, pseudonymised',
  );

export const NewTrialBody = z
  .object({
    id: Id,
    name: Name,
    siteId: Id.describe('The site the trial runs at'),
    vendorIds: z.array(Id).min(1).max(100).describe('Vendors taking part; their devices can be assigned'),
    protocolRef: z.string().trim().min(1).max(200).describe('Protocol reference, e.g. the ethics approval number'),
    period: PeriodBody.describe('The trial period; data outside it never belongs to the trial'),
    baseline: PeriodBody.nullable().default(null).describe('Baseline measurement period (nullpunktmåling) inside the trial period'),
    interventionFrom: BodyInstant.nullable()
      .default(null)
      .describe('When the technology was switched on; the intervention period runs from here to the end (null: from the end of the baseline)'),
    researchDeviceData: z.boolean().default(false).describe('Whether researchers also get device data (points with nobody assigned)'),
  })
  .meta(
    example({
      id: 'fall-2025',
      name: 'Fall prevention with a 3D room sensor',
      siteId: 'levanger-room',
      vendorIds: ['roomsense', 'bedwatch'],
      protocolRef: 'REK 2025/12345',
      period: { from: '2025-03-01T00:00:00Z', to: '2025-09-01T00:00:00Z' },
      baseline: { from: '2025-03-01T00:00:00Z', to: '2025-03-15T00:00:00Z' },
      researchDeviceData: false,
    }),
  );

export const TrialDto = z.object({
  id: Id,
  name: z.string(),
  siteId: Id,
  vendorIds: z.array(Id),
  protocolRef: z.string(),
  period: PeriodDto,
  baseline: PeriodDto.nullable(),
  interventionFrom: IsoTime.nullable(),
  status: TrialStatus,
  researchDeviceData: z.boolean(),
  createdAt: IsoTime,
});
/** As the trial stands at `now`: its status follows time (planned → running → completed). */
export const toTrialDto = (t: Trial, now = Date.now()): z.infer<typeof TrialDto> => ({
  id: t.id,
  name: t.name,
  siteId: t.siteId,
  vendorIds: [...t.vendorIds],
  protocolRef: t.protocolRef,
  period: toPeriodDto(t.period),
  baseline: t.baseline && toPeriodDto(t.baseline),
  interventionFrom: t.interventionFrom === null ? null : iso(t.interventionFrom),
  status: statusAt(t, now),
  researchDeviceData: t.researchDeviceData,
  createdAt: iso(t.createdAt),
});

export const PatchTrialBody = z
  .object({ status: TrialStatus.describe('The next status: planned → running → completed → archived') })
  .meta(example({ status: 'running' }));

export const NewParticipantBody = z
  .object({ id: Id.describe('The pseudonym the clinic assigned. Never a name, birth date or national id: the key stays at the clinic.') })
  .meta(example({ id: 'P-017' }));
export const ParticipantDto = z.object({
  id: Id,
  trialId: Id,
  createdAt: IsoTime,
  erasedAt: IsoTime.nullable().describe("When the participant's data was erased"),
});
export const toParticipantDto = (p: Participant): z.infer<typeof ParticipantDto> => ({
  id: p.id,
  trialId: p.trialId,
  createdAt: iso(p.createdAt),
  erasedAt: p.erasedAt === null ? null : iso(p.erasedAt),
});

export const NewAssignmentBody = z
  .object({
    deviceId: Id,
    participantId: Id,
    roomId: Id.nullish().describe('Room at the trial site; none for a wearable'),
    bed: z.number().int().min(1).max(1000).nullish().describe('Bed number in the room, from 1'),
    from: BodyInstant.describe('Start (inclusive)'),
    to: BodyInstant.nullish().describe('End (exclusive); empty runs until ended or the trial ends'),
  })
  .meta(example({ deviceId: 'RS3D-00421', participantId: 'P-017', roomId: 'levanger-room-1', bed: 1, from: '2025-03-01T08:00:00Z' }));
export const AssignmentDto = z.object({
  id: z.string(),
  trialId: Id,
  deviceId: Id,
  participantId: Id,
  roomId: Id.nullable(),
  bed: z.number().int().nullable(),
  from: IsoTime,
  to: IsoTime.nullable(),
  createdAt: IsoTime,
});
export const toAssignmentDto = (a: Assignment): z.infer<typeof AssignmentDto> => ({
  id: a.id,
  trialId: a.trialId,
  deviceId: a.deviceId,
  participantId: a.participantId,
  roomId: a.roomId,
  bed: a.bed,
  from: iso(a.from),
  to: a.to === null ? null : iso(a.to),
  createdAt: iso(a.createdAt),
});
export const EndAssignmentBody = z
  .object({ at: BodyInstant.optional().describe('When it ends; now when left out') })
  .default({})
  .meta(example({ at: '2025-04-01T12:00:00Z' }));

export const NewConsentBody = z
  .object({
    scope: ConsentScope,
    grantedAt: BodyInstant.describe('When the participant signed; not in the future'),
    formVersion: z.string().trim().min(1).max(100).describe('Version of the consent form signed'),
  })
  .meta(example({ scope: 'research', grantedAt: '2025-03-01T07:30:00Z', formVersion: 'v2.1' }));
export const ConsentDto = z.object({
  id: z.string(),
  participantId: Id,
  scope: ConsentScope,
  grantedAt: IsoTime,
  withdrawnAt: IsoTime.nullable(),
  formVersion: z.string(),
  recordedAt: IsoTime,
});
export const toConsentDto = (c: ConsentRecord): z.infer<typeof ConsentDto> => ({
  id: c.id,
  participantId: c.participantId,
  scope: c.scope,
  grantedAt: iso(c.grantedAt),
  withdrawnAt: c.withdrawnAt === null ? null : iso(c.withdrawnAt),
  formVersion: c.formVersion,
  recordedAt: iso(c.recordedAt),
});
export const WithdrawBody = z
  .object({ withdrawnAt: BodyInstant.optional().describe('When the participant withdrew; now when left out; not in the future') })
  .default({})
  .meta(example({}));

export const ParticipantDetailDto = ParticipantDto.extend({ consents: z.array(ConsentDto), assignments: z.array(AssignmentDto) });
export const ErasureDto = z.object({
  participantId: Id,
  erasedAt: IsoTime,
  erasedPoints: z.number().int().describe('Readings and events deleted from the telemetry store by this call'),
});
export const IdOnlyParams = z.object({ id: z.string().min(1).max(100) });
