import type { ConsentScope } from '../../kernel/consent.js';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import type { Pseudonymiser } from '../../kernel/pseudonym.js';
import type { Registry } from '../../kernel/registry.js';
import type { Trial } from '../../kernel/trials.js';
import type { Identifier } from '../../fhir/types.js';

/**
 * Whom a FHIR client reads for, and as whom it sees participants. A FHIR client is a
 * principal like any other: a clinician token is a clinical-record integration of its
 * sites under care.live, a researcher token a research one under research for its
 * trials, a vendor token its own devices under vendor.telemetry with no participant
 * reference at all. Participants appear only as their pseudonym for that audience and
 * trial (kernel/pseudonym.ts, as in datasets), under the arena's identifier system.
 */
export interface FhirAudience {
  readonly scope: ConsentScope;
  /** The trials whose participants this caller may be shown data of. */
  readonly trials: readonly Trial[];
  /** What the caller sees for a participant; null: no participant reference (vendors). */
  subject(trialId: string | null, participantId: string): Identifier | null;
  /** The participant a subject identifier names, among those trials; undefined when none. */
  participant(identifier: { system: string; value: string }): Promise<{ participantId: string; trialId: string } | undefined>;
}

const SCOPE: Partial<Record<Principal['role'], ConsentScope>> = { clinician: 'care.live', researcher: 'research', vendor: 'vendor.telemetry' };

export async function fhirAudience(
  registry: Pick<Registry, 'listTrials' | 'getTrial' | 'listParticipants'>,
  principal: Principal,
  pseudonym: Pseudonymiser,
  system: string,
): Promise<FhirAudience> {
  const scope = SCOPE[principal.role];
  // Route access lets only these roles in (api/routes/fhir*.ts); deny by default all the same.
  if (scope === undefined) throw new HubError('FORBIDDEN', `role ${principal.role} reads no FHIR data`);
  let trials: Trial[] = [];
  if (principal.role === 'clinician') trials = (await registry.listTrials()).filter((t) => principal.siteIds.includes(t.siteId));
  else if (principal.role === 'researcher') trials = (await Promise.all(principal.trialIds.map((id) => registry.getTrial(id)))).filter((t) => t !== undefined);
  else if (principal.role === 'vendor') trials = await registry.listTrials({ vendorId: principal.vendorId });
  const named = scope !== 'vendor.telemetry';
  return {
    scope,
    trials,
    subject: (trialId, participantId) => (named && trialId !== null ? { system, value: pseudonym(trialId, scope, participantId) } : null),
    async participant(identifier) {
      if (!named || identifier.system !== system) return undefined;
      for (const t of trials)
        for (const p of await registry.listParticipants(t.id))
          if (p.erasedAt === null && pseudonym(t.id, scope, p.id) === identifier.value) return { participantId: p.id, trialId: t.id };
      return undefined;
    },
  };
}
