import type { FastifyRequest } from 'fastify';
import type { Actor } from '../../kernel/alarms.js';
import type { ConsentReader } from '../../kernel/consent.js';
import { HubError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';
import type { Registry, Site } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import type { Participant } from '../../kernel/trials.js';
import { principalOf } from '../auth.js';

/** Until a consent implementation is wired: nothing about a participant is released; device data is. */
export const FAIL_CLOSED_CONSENT: ConsentReader = {
  allows: async () => false,
  windows: async () => [],
};

export const consentOf = (registry: Partial<Pick<Registry, 'consent'>>): ConsentReader => registry.consent ?? FAIL_CLOSED_CONSENT;

/**
 * The live view's consent rule: a point or alarm about a participant is shown to a
 * clinician only while the participant holds care.live for the time it was measured
 * (kernel/consent.ts). Admin (arena staff) is not an audience of the rule and reads
 * unfiltered, as on the device-data routes. Any error answers no.
 */
export async function mayShow(consent: ConsentReader, principal: Principal, participantId: string | null, at: number, now: number): Promise<boolean> {
  if (participantId === null || principal.role === 'admin') return true;
  try {
    return await consent.allows(participantId, 'care.live', at, now);
  } catch {
    return false;
  }
}

/** Whether a principal may watch a site: an admin any, a clinician or a paired board the sites its token is bound to. */
export const watches = (principal: Principal, siteId: string | null): boolean =>
  principal.role === 'admin' || ((principal.role === 'clinician' || principal.role === 'board') && siteId !== null && principal.siteIds.includes(siteId));

/** A site the principal may watch; any other answers like a missing one. */
export async function watchedSite(registry: Pick<Registry, 'getSite'>, principal: Principal, siteId: string): Promise<Site> {
  const site = watches(principal, siteId) ? await registry.getSite(siteId) : undefined;
  if (!site) throw new HubError('NOT_FOUND', `no site "${siteId}"`);
  return site;
}

/**
 * A participant the principal may care for, with the site it belongs to (its trial's
 * site). The binding is checked against the participant itself, whether or not anything
 * about it (alarm settings, alarms) exists yet; unknown, erased and another site's
 * participants all answer the same 404, so the answer tells nothing about which ids exist.
 */
export async function caredParticipant(
  registry: Pick<Registry, 'getParticipant' | 'getTrial'>,
  principal: Principal,
  participantId: string,
): Promise<{ readonly participant: Participant; readonly siteId: string }> {
  const participant = await registry.getParticipant(participantId);
  const trial = participant && participant.erasedAt === null ? await registry.getTrial(participant.trialId) : undefined;
  if (!participant || !trial || !watches(principal, trial.siteId)) throw new HubError('NOT_FOUND', `no participant "${participantId}"`);
  return { participant, siteId: trial.siteId };
}

/** The sites a query covers: the one asked for (if watched), else all the principal watches (undefined = every site). */
export function siteScope(principal: Principal, siteId: string | undefined): readonly string[] | undefined {
  if (siteId !== undefined) {
    if (!watches(principal, siteId)) throw new HubError('NOT_FOUND', `no site "${siteId}"`);
    return [siteId];
  }
  return principal.role === 'admin' ? undefined : principal.role === 'clinician' || principal.role === 'board' ? principal.siteIds : [];
}

/**
 * Who acts, for the alarm's record: the token id and the label it was issued with, and
 * the person the board names (a shared ward tablet's token says which board, not who).
 */
export async function actorOf(registry: Pick<TokenRegistry, 'listTokens'>, request: FastifyRequest, person?: string): Promise<Actor> {
  const principal = principalOf(request);
  const token = (await registry.listTokens()).find((t) => t.id === principal.tokenId);
  return { id: principal.tokenId, label: token?.label ?? principal.role, ...(person ? { person } : {}) };
}
