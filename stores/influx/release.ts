import type { PointQuery } from '../../kernel/ports.js';

/**
 * The consent filter as disjoint time segments. InfluxQL cannot OR time conditions
 * (1.x and 2.x return nothing for `(time ...) OR (time ...)`), so instead of one
 * statement with "participant p in window w" alternatives, [from, to) is cut at every
 * window edge; each piece lists the participants whose windows cover it ('' = device
 * data, an absent tag) and becomes one statement. Pieces are disjoint and in time order,
 * so their results concatenate without duplicates even when windows overlap.
 */
export interface Segment {
  /** Epoch ms, [from, to); undefined = unbounded. */
  readonly from?: number;
  readonly to?: number;
  /** undefined = no participant filter (no release given). */
  readonly participants?: readonly string[];
}

export function releaseSegments(q: Pick<PointQuery, 'from' | 'to' | 'release'>): Segment[] {
  if (!q.release) return [{ from: q.from, to: q.to }];
  const from = q.from === undefined ? -Infinity : Math.ceil(q.from);
  const to = q.to === undefined ? Infinity : Math.ceil(q.to);
  // Integer ms, as the store compares integer device times ([from, to) rounds up).
  const windows = q.release.windows
    .filter((w) => w.participantId !== '') // '' would mean device data, never a participant
    .map((w) => ({ p: w.participantId, from: Math.max(Math.ceil(w.from), from), to: Math.min(Math.ceil(w.to), to) }))
    .filter((w) => w.from < w.to);
  const deviceData = q.release.includeDeviceData;
  const cuts = [...new Set([from, to, ...windows.flatMap((w) => [w.from, w.to])])].sort((a, b) => a - b);

  const out: { from: number; to: number; participants: string[] }[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) {
    const a = cuts[i]!;
    const b = cuts[i + 1]!;
    if (a < from || b > to) continue;
    const who = new Set(windows.filter((w) => w.from <= a && b <= w.to).map((w) => w.p));
    if (deviceData) who.add('');
    if (who.size === 0) continue;
    const participants = [...who].sort();
    const last = out[out.length - 1];
    if (last && last.to === a && same(last.participants, participants)) last.to = b;
    else out.push({ from: a, to: b, participants });
  }
  return out.map((s) => ({
    from: Number.isFinite(s.from) ? s.from : undefined,
    to: Number.isFinite(s.to) ? s.to : undefined,
    participants: s.participants,
  }));
}

const same = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);
