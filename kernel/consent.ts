import type { ReleaseWindow } from './ports.js';
import type { ConsentRecord, ConsentScope, Period } from './trials.js';

// The scopes are declared with the consent records they belong to (kernel/trials.ts).
export { CONSENT_SCOPES, type ConsentScope } from './trials.js';

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

/**
 * The rule itself, over one participant's records, as windows of measurement time.
 *
 * A record grants [grantedAt, ∞) clipped to the trial period. A record withdrawn by
 * `now` grants nothing at all: "withdrawal stops every later release of P's data",
 * including data measured while the consent still held. A later grant is a new record
 * and covers only what is measured from its own grantedAt, so re-consenting never
 * brings back data from before a withdrawal. A withdrawal time after `now` cannot be
 * recorded (the registry refuses it) but is honoured as an end if it ever appears.
 */
export function releaseWindows(records: readonly ConsentRecord[], scope: ConsentScope, period: Period, now: number): ReleaseWindow[] {
  const out: ReleaseWindow[] = [];
  for (const r of records) {
    if (r.scope !== scope || r.grantedAt > now) continue;
    if (r.withdrawnAt !== null && r.withdrawnAt <= now) continue;
    const from = Math.max(r.grantedAt, period.from);
    const to = Math.min(r.withdrawnAt ?? Infinity, period.to);
    if (from < to) out.push({ participantId: r.participantId, from, to });
  }
  return out;
}

/** Whether `at` falls in one of the windows of `participantId`. */
export const inWindows = (windows: readonly ReleaseWindow[], participantId: string, at: number): boolean =>
  windows.some((w) => w.participantId === participantId && w.from <= at && at < w.to);
