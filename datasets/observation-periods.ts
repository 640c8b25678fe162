import type { ReleaseWindow } from '../kernel/ports.js';
import type { Assignment, Period } from '../kernel/trials.js';

/**
 * The time each pseudonym was observed: a device assigned to the participant, inside the
 * trial period and a release window of the audience's consent, up to now. With the
 * device's expected interval it is the denominator of completeness ("records received
 * against records expected"), which a researcher can then compute outside the hub.
 *
 * Built at request time and never stored: a pseudonym kept in the registry would outlive
 * the participant's erasure.
 */
export interface ObservationPeriod {
  readonly pseudonym: string;
  readonly deviceId: string;
  readonly profileId: string | null;
  /** What the device's profile expects between records, in seconds; null when unknown. */
  readonly expectedIntervalS: number | null;
  readonly from: number;
  readonly to: number;
}

export function observationPeriods(input: {
  readonly trialPeriod: Period;
  readonly windows: readonly ReleaseWindow[];
  readonly assignments: readonly Assignment[];
  readonly now: number;
  readonly pseudonym: (participantId: string) => string;
  readonly profileOf: (deviceId: string) => string | undefined;
  readonly expectedIntervalS: (profileId: string) => number | undefined;
}): ObservationPeriod[] {
  const byParticipant = new Map<string, ReleaseWindow[]>();
  for (const w of input.windows) byParticipant.set(w.participantId, [...(byParticipant.get(w.participantId) ?? []), w]);
  const end = Math.min(input.trialPeriod.to, input.now);
  const out: ObservationPeriod[] = [];
  for (const a of input.assignments) {
    const profileId = input.profileOf(a.deviceId) ?? null;
    const expected = profileId === null ? undefined : input.expectedIntervalS(profileId);
    for (const w of byParticipant.get(a.participantId) ?? []) {
      const from = Math.max(a.from, w.from, input.trialPeriod.from);
      const to = Math.min(a.to ?? Infinity, w.to, end);
      if (from < to) {
        out.push({ pseudonym: input.pseudonym(a.participantId), deviceId: a.deviceId, profileId, expectedIntervalS: expected ?? null, from, to });
      }
    }
  }
  return out.sort((x, y) => x.pseudonym.localeCompare(y.pseudonym) || x.deviceId.localeCompare(y.deviceId) || x.from - y.from);
}

const CSV_HEADER = 'pseudonym,device_id,profile_id,expected_interval_s,from,to';

/** RFC 4180 CSV, ISO 8601 UTC times; ids are [A-Za-z0-9._-] (kernel/ids.ts), so nothing needs quoting. */
export function observationPeriodsCsv(rows: readonly ObservationPeriod[]): string {
  const iso = (ms: number): string => new Date(ms).toISOString();
  const lines = rows.map((r) => [r.pseudonym, r.deviceId, r.profileId ?? '', r.expectedIntervalS ?? '', iso(r.from), iso(r.to)].join(','));
  return `${[CSV_HEADER, ...lines].join('\r\n')}\r\n`;
}
