import type { ReleaseWindow } from './ports.js';

/**
 * Consent scopes a participant grants and withdraws, each at a known time.
 * - care.live: shown live to clinicians of the site
 * - vendor.telemetry: the device's vendor may see its telemetry, without participant identifiers
 * - research: researchers of the trial get pseudonymised data
 */
export const CONSENT_SCOPES = ['care.live', 'vendor.telemetry', 'research'] as const;
export type ConsentScope = (typeof CONSENT_SCOPES)[number];

/**
 * The consent rule, read side. A point about participant P measured at t may be released
 * to an audience at time `now` only if P held the audience's scope at t and has not
 * withdrawn it by `now` (withdrawal stops every later release, also of older data).
 * Implementations fail closed: unknown participant or any error means no.
 */
export interface ConsentReader {
  /** Whether P's data measured at `at` may be released under `scope` now. */
  allows(participantId: string, scope: ConsentScope, at: number, now: number): Promise<boolean>;
  /** The release windows of every participant of a trial for a scope, as of `now`. */
  windows(trialId: string, scope: ConsentScope, now: number): Promise<ReleaseWindow[]>;
}
