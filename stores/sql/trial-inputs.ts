import { z } from 'zod';
import { CONSENT_SCOPES } from '../../kernel/consent.js';
import { SafeId } from '../../kernel/ids.js';

/** What the registry accepts for trials and what hangs off them, whoever the caller is. */

const Ms = z.number().int().min(-8.64e15).max(8.64e15);
const Period = z.object({ from: Ms, to: Ms }).refine((p) => p.from < p.to, { message: 'from must be before to', path: ['to'] });

export const TrialInput = z
  .object({
    id: SafeId,
    name: z.string().trim().min(1).max(200),
    siteId: SafeId,
    vendorIds: z.array(SafeId).min(1).max(100),
    protocolRef: z.string().trim().min(1).max(200),
    period: Period,
    baseline: Period.nullish().transform((b) => b ?? null),
    interventionFrom: Ms.nullish().transform((v) => v ?? null),
    researchDeviceData: z.boolean().default(false),
  })
  .refine((t) => t.baseline === null || (t.baseline.from >= t.period.from && t.baseline.to <= t.period.to), {
    message: 'the baseline must lie inside the trial period',
    path: ['baseline'],
  })
  .refine(
    (t) =>
      t.interventionFrom === null ||
      (t.interventionFrom > t.period.from && t.interventionFrom < t.period.to && t.interventionFrom >= (t.baseline?.to ?? -Infinity)),
    {
      message: 'the intervention must start inside the trial period, not before the baseline ends',
      path: ['interventionFrom'],
    },
  );

export const ParticipantInput = z.object({ id: SafeId, trialId: SafeId });

export const AssignmentInput = z
  .object({
    trialId: SafeId,
    deviceId: SafeId,
    participantId: SafeId,
    roomId: SafeId.nullish().transform((v) => v ?? null),
    bed: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .nullish()
      .transform((v) => v ?? null),
    from: Ms,
    to: Ms.nullish().transform((v) => v ?? null),
  })
  .refine((a) => a.to === null || a.from < a.to, { message: 'must be after from', path: ['to'] })
  .refine((a) => a.bed === null || a.roomId !== null, { message: 'a bed needs its room', path: ['bed'] });

export const ConsentInput = z.object({
  participantId: SafeId,
  scope: z.enum(CONSENT_SCOPES),
  grantedAt: Ms,
  formVersion: z.string().trim().min(1).max(100),
});
