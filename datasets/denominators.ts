import type { Json } from '../kernel/audit.js';
import type { ReleaseWindow } from '../kernel/ports.js';
import type { Assignment, Period } from '../kernel/trials.js';

/**
 * What a researcher needs to compute rates and completeness outside the hub: when each
 * pseudonym was observed (their device assignments, and the consent windows that
 * released their data) and how often each device's profile expects a record. Only
 * participants with a release window appear, only devices the export may hold, and
 * every interval is clipped to the export's own time range.
 */
export interface Denominators {
  readonly observation: readonly {
    readonly pseudonym: string;
    readonly releaseWindows: readonly { from: string; to: string }[];
    readonly assignments: readonly { deviceId: string; from: string; to: string }[];
  }[];
  readonly devices: readonly { deviceId: string; profileId: string; expectedIntervalS: number }[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function buildDenominators(m: {
  range: Period;
  windows: readonly ReleaseWindow[];
  assignments: readonly Assignment[];
  devices: readonly { id: string; profileId: string }[];
  expectedIntervalS: (profileId: string) => number | undefined;
  /** null: the audience gets no participant reference (vendors), so no observation periods either. */
  pseudonym: ((participantId: string) => string) | null;
}): Denominators {
  const clip = (from: number, to: number): { from: string; to: string } | null => {
    const a = Math.max(from, m.range.from);
    const b = Math.min(to, m.range.to);
    return a < b ? { from: iso(a), to: iso(b) } : null;
  };
  const allowed = new Set(m.devices.map((d) => d.id));
  const participants = [...new Set(m.windows.map((w) => w.participantId))].sort();
  const pseudonym = m.pseudonym;
  const observation = pseudonym
    ? participants.map((pid) => ({
        pseudonym: pseudonym(pid),
        releaseWindows: m.windows.filter((w) => w.participantId === pid).flatMap((w) => clip(w.from, w.to) ?? []),
        assignments: m.assignments
          .filter((a) => a.participantId === pid && allowed.has(a.deviceId))
          .flatMap((a) => {
            const c = clip(a.from, a.to ?? Infinity);
            return c ? [{ deviceId: a.deviceId, ...c }] : [];
          }),
      }))
    : [];
  const devices = m.devices
    .flatMap((d) => {
      const s = m.expectedIntervalS(d.profileId);
      return s === undefined ? [] : [{ deviceId: d.id, profileId: d.profileId, expectedIntervalS: s }];
    })
    .sort((a, b) => a.deviceId.localeCompare(b.deviceId));
  return { observation: observation.sort((a, b) => a.pseudonym.localeCompare(b.pseudonym)), devices };
}

export const denominatorsJson = (d: Denominators): { [key: string]: Json } => ({
  observation: d.observation.map((o) => ({ pseudonym: o.pseudonym, releaseWindows: o.releaseWindows.map((w) => ({ ...w })), assignments: o.assignments.map((a) => ({ ...a })) })),
  devices: d.devices.map((x) => ({ ...x })),
});
