import { shapesOf, type Profile } from '../device-profiles/schema.js';
import type { CheckOutcome, ConformanceCheck, ConformanceReport } from '../kernel/conformance.js';
import type { Observations } from './observations.js';

export interface RunFacts {
  readonly deviceId: string;
  readonly profile: Profile;
  readonly hubVersion: string;
  readonly from: number;
  readonly to: number;
  /** The hub's clock skew allowance (ingest limits): beyond it a point is flagged clockSkewed. */
  readonly skewMs: number;
}

/** Share of points whose device clock must be within the skew allowance. */
const CLOCK_SHARE = 0.95;
/** The median gap between messages must lie within these multiples of expectedIntervalS. */
const INTERVAL_BAND = [0.5, 1.5] as const;
/** Rejection examples kept per code. */
const EXAMPLES_PER_CODE = 3;

const check = (id: string, title: string, rule: string, outcome: CheckOutcome, finding: string, evidence: Record<string, unknown> = {}): ConformanceCheck => ({
  id,
  title,
  rule,
  outcome,
  finding,
  evidence,
});

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}
const seconds = (ms: number): string => `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * Judges what a run saw against the device's profile: each check with its rule, outcome
 * and evidence. Pure: the same observations always give the same report.
 */
export function evaluateRun(o: Observations, f: RunFacts): ConformanceReport {
  const { profile } = f;
  const expectedMs = profile.expectedIntervalS * 1000;
  const offlineAfter = profile.alarms?.offlineAfter ?? 3;
  const firstSeen = new Map<string, number>();
  const lastSeen = new Map<string, number>();
  const duplicates: { id: string; at: number; afterReconnect: boolean }[] = [];
  const runConnects = o.connects.filter((c) => c.at >= f.from);
  for (const m of o.messages) {
    const previous = lastSeen.get(m.id);
    lastSeen.set(m.id, m.at);
    if (previous === undefined) firstSeen.set(m.id, m.at);
    // A resend follows a reconnect made since the message's previous arrival.
    else duplicates.push({ id: m.id, at: m.at, afterReconnect: runConnects.some((c) => c.at > previous && c.at <= m.at) });
  }
  const arrivals = [...firstSeen.values()].sort((a, b) => a - b);
  const points = o.messages.flatMap((m) => m.points.map((p) => ({ ...p, at: m.at })));
  const rejections = o.messages.flatMap((m) => m.rejections.map((r) => ({ ...r, at: m.at })));
  const rejectedMessages = o.messages.filter((m) => m.rejections.length > 0).length;
  const offsets = points.map((p) => p.deviceTime - p.at);
  const checks: ConformanceCheck[] = [];

  const received = o.messages.length + o.overflow;
  checks.push(
    check(
      'messages',
      'Messages received',
      'At least one message from the device is committed during the run.',
      received > 0 ? 'pass' : 'fail',
      `${received} messages, ${points.length} points (readings and events), ${rejections.length} rejections.`,
      { messages: received, points: points.length, notKept: o.overflow },
    ),
  );

  const byCode: Record<string, { count: number; examples: { at: string; path: string; message: string; payload: string | null }[] }> = {};
  for (const r of rejections) {
    const entry = (byCode[r.code] ??= { count: 0, examples: [] });
    entry.count++;
    if (entry.examples.length < EXAMPLES_PER_CODE) entry.examples.push({ at: iso(r.at), path: r.path, message: r.message, payload: r.payload });
  }
  checks.push(
    check(
      'rejections',
      'No rejections',
      'No message, record or field of the device is rejected (promise 2: every rejection is counted with its code and path).',
      rejections.length === 0 ? 'pass' : 'fail',
      rejections.length === 0
        ? 'Every message was stored whole.'
        : `${rejections.length} rejections in ${rejectedMessages} messages: ${Object.entries(byCode)
            .map(([c, e]) => `${c} ×${e.count} (${e.examples[0]!.path || 'payload'})`)
            .join(', ')}.`,
      { byCode, payloadRule: "raw payloads only of messages attributed to nobody; a report keeps no participant's data" },
    ),
  );

  const shapes = shapesOf(profile);
  const seenNames = new Set(points.map((p) => p.name));
  const measurements = [...new Set(shapes.flatMap((s) => s.readings.map((r) => r.measurement)))];
  const events = [...new Set(shapes.flatMap((s) => s.events.flatMap((e) => Object.values(e.map).flatMap((m) => (m ? [m.event] : [])))))];
  // A shape counts as seen when one of its readings or events was stored: the decoder does not name the shape it chose.
  const shapeSeen = shapes.map((s) => ({
    name: s.name,
    seen: s.readings.some((r) => seenNames.has(r.measurement)) || s.events.some((e) => Object.values(e.map).some((m) => m !== null && seenNames.has(m.event))),
  }));
  const listed = (names: readonly string[]) => ({ seen: names.filter((n) => seenNames.has(n)), notSeen: names.filter((n) => !seenNames.has(n)) });
  const seenCount = measurements.filter((n) => seenNames.has(n)).length + events.filter((n) => seenNames.has(n)).length;
  checks.push(
    check(
      'declared-coverage',
      "The profile's measurements, events and shapes",
      "At least one of the profile's declared measurements or events is stored; the others are listed as not seen (events such as a fall need not happen during a run).",
      seenCount > 0 ? 'pass' : 'fail',
      `${seenCount} of ${measurements.length + events.length} declared measurements and events seen; shapes seen: ${
        shapeSeen
          .filter((s) => s.seen)
          .map((s) => s.name)
          .join(', ') || 'none'
      }.`,
      { measurements: listed(measurements), events: listed(events), shapes: shapeSeen },
    ),
  );

  const gaps = arrivals.slice(1).map((t, i) => t - arrivals[i]!);
  const medianGap = quantile(
    [...gaps].sort((a, b) => a - b),
    0.5,
  );
  const duration = f.to - f.from;
  const intervalRule = `The median time between messages is within ${INTERVAL_BAND[0] * 100}–${INTERVAL_BAND[1] * 100} % of the profile's expectedIntervalS (${profile.expectedIntervalS} s); runs shorter than two intervals are not judged.`;
  checks.push(
    duration < 2 * expectedMs
      ? check(
          'reporting-interval',
          'Reporting interval',
          intervalRule,
          'not-applicable',
          `The run (${seconds(duration)}) is shorter than two expected intervals.`,
        )
      : gaps.length === 0
        ? check(
            'reporting-interval',
            'Reporting interval',
            intervalRule,
            'fail',
            `${arrivals.length} distinct messages in ${seconds(duration)}: no interval to measure.`,
            {
              expectedS: profile.expectedIntervalS,
            },
          )
        : check(
            'reporting-interval',
            'Reporting interval',
            intervalRule,
            medianGap >= INTERVAL_BAND[0] * expectedMs && medianGap <= INTERVAL_BAND[1] * expectedMs ? 'pass' : 'fail',
            `Median ${seconds(medianGap)} between messages (shortest ${seconds(Math.min(...gaps))}, longest ${seconds(Math.max(...gaps))}); expected ${profile.expectedIntervalS} s.`,
            {
              expectedS: profile.expectedIntervalS,
              medianS: medianGap / 1000,
              minS: Math.min(...gaps) / 1000,
              maxS: Math.max(...gaps) / 1000,
              intervals: gaps.length,
            },
          ),
  );

  const sortedOffsets = [...offsets].sort((a, b) => a - b);
  const within = offsets.filter((d) => Math.abs(d) <= f.skewMs).length;
  const clockRule = `At least ${CLOCK_SHARE * 100} % of points carry a device time within ±${seconds(f.skewMs)} of the hub's receive time (beyond it the hub flags them clockSkewed).`;
  checks.push(
    offsets.length === 0
      ? check('clock-offset', 'Device clock', clockRule, 'not-applicable', 'No point was stored, so no device time was seen.')
      : check(
          'clock-offset',
          'Device clock',
          clockRule,
          within >= CLOCK_SHARE * offsets.length ? 'pass' : 'fail',
          `${within} of ${offsets.length} points within the allowance; offset (device − hub) median ${seconds(quantile(sortedOffsets, 0.5))}, from ${seconds(sortedOffsets[0]!)} to ${seconds(sortedOffsets.at(-1)!)}.`,
          {
            points: offsets.length,
            withinAllowance: within,
            offsetMs: {
              min: sortedOffsets[0],
              p5: quantile(sortedOffsets, 0.05),
              median: quantile(sortedOffsets, 0.5),
              p95: quantile(sortedOffsets, 0.95),
              max: sortedOffsets.at(-1),
            },
          },
        ),
  );

  const qos: Record<string, number> = {};
  for (const p of o.publishes) qos[String(p.qos)] = (qos[String(p.qos)] ?? 0) + 1;
  const atMostOnce = qos['0'] ?? 0;
  const qosRule = 'Every publish is at QoS 1 or 2: the hub acknowledges a message only once it is stored, a QoS 0 message can be lost without trace.';
  checks.push(
    o.publishes.length === 0
      ? check('qos', 'QoS', qosRule, 'not-applicable', 'No publish was seen.')
      : check(
          'qos',
          'QoS',
          qosRule,
          atMostOnce === 0 ? 'pass' : 'fail',
          `${o.publishes.length} publishes: ${Object.entries(qos)
            .map(([q, n]) => `QoS ${q} ×${n}`)
            .join(', ')}.`,
          { publishesByQos: qos },
        ),
  );

  const dupFlagged = o.publishes.filter((p) => p.dup).length;
  const stray = duplicates.filter((d) => !d.afterReconnect);
  checks.push(
    check(
      'resends',
      'Resends and duplicates',
      'A message sent again (same bytes) comes only after a reconnect, as a resend of one whose PUBACK was lost; the hub stores it once either way.',
      stray.length === 0 ? 'pass' : 'fail',
      `${duplicates.length} messages received again (${duplicates.length - stray.length} after a reconnect), ${dupFlagged} publishes with the DUP flag, ${runConnects.length} connects during the run.`,
      { duplicates: duplicates.length, afterReconnect: duplicates.length - stray.length, dupFlagged, connects: runConnects.length },
    ),
  );

  const keepaliveTimeouts = o.disconnects.filter((d) => d.cause === 'keepalive').length;
  const noKeepalive = o.connects.filter((c) => c.keepaliveS === 0).length;
  const keepaliveRule = 'Every connection sets a keepalive (MQTT 3.1.1 §3.1.2.10, above 0 s) and none expires during the run.';
  checks.push(
    o.connects.length === 0
      ? check('keepalive', 'Keepalive', keepaliveRule, 'not-applicable', 'The device did not connect since the hub started.')
      : check(
          'keepalive',
          'Keepalive',
          keepaliveRule,
          noKeepalive === 0 && keepaliveTimeouts === 0 ? 'pass' : 'fail',
          `Keepalive ${[...new Set(o.connects.map((c) => `${c.keepaliveS} s`))].join(', ')} on ${o.connects.length} connections; ${keepaliveTimeouts} expired.`,
          { keepaliveS: o.connects.map((c) => c.keepaliveS), timeouts: keepaliveTimeouts },
        ),
  );

  const withoutWill = o.connects.filter((c) => c.will === null).length;
  const unclean = o.disconnects.filter((d) => d.cause !== 'disconnect');
  const willRule = 'Every connection declares a last will (MQTT 3.1.1 §3.1.2.5), so that the arena learns at once when the device drops off.';
  checks.push(
    o.connects.length === 0
      ? check('last-will', 'Last will', willRule, 'not-applicable', 'The device did not connect since the hub started.')
      : check(
          'last-will',
          'Last will',
          willRule,
          withoutWill === 0 ? 'pass' : 'fail',
          `${o.connects.length - withoutWill} of ${o.connects.length} connections declared a will; ${unclean.length} ended uncleanly (the will, if any, was published).`,
          { wills: o.connects.map((c) => c.will), uncleanDisconnects: unclean.length },
        ),
  );

  const limitMs = expectedMs * offlineAfter;
  const episodes: { from: string; to: string; seconds: number; why: string }[] = [];
  const marks = [f.from, ...arrivals, f.to];
  for (let i = 1; i < marks.length; i++) {
    const gap = marks[i]! - marks[i - 1]!;
    if (gap > limitMs) episodes.push({ from: iso(marks[i - 1]!), to: iso(marks[i]!), seconds: gap / 1000, why: 'silence' });
  }
  for (const d of o.disconnects) {
    const back = o.connects.find((c) => c.at > d.at);
    episodes.push({ from: iso(d.at), to: iso(back?.at ?? f.to), seconds: ((back?.at ?? f.to) - d.at) / 1000, why: `disconnected (${d.cause})` });
  }
  checks.push(
    check(
      'offline',
      'Offline episodes',
      `No silence longer than expectedIntervalS × offlineAfter (${profile.expectedIntervalS} s × ${offlineAfter}), and no connection lost during the run.`,
      episodes.length === 0 ? 'pass' : 'fail',
      episodes.length === 0
        ? 'The device stayed online.'
        : `${episodes.length} offline episodes, the longest ${Math.max(...episodes.map((e) => e.seconds)).toFixed(1)} s.`,
      { episodes, limitS: limitMs / 1000 },
    ),
  );

  const battery = points.filter((p) => p.name === 'battery_level');
  const batteryRule = 'A profile that maps battery_level reports it at least once during the run.';
  checks.push(
    !measurements.includes('battery_level')
      ? check('battery', 'Battery reporting', batteryRule, 'not-applicable', 'The profile maps no battery_level (a mains-powered device).')
      : check(
          'battery',
          'Battery reporting',
          batteryRule,
          battery.length > 0 ? 'pass' : 'fail',
          battery.length > 0 ? `${battery.length} battery readings, the last ${battery.at(-1)!.value} %.` : 'No battery reading during the run.',
          { readings: battery.length, last: battery.at(-1)?.value ?? null },
        ),
  );

  return {
    deviceId: f.deviceId,
    profileId: profile.id,
    profileVersion: profile.version,
    hubVersion: f.hubVersion,
    from: f.from,
    to: f.to,
    expectedIntervalS: profile.expectedIntervalS,
    skewMs: f.skewMs,
    summary: {
      messages: received,
      points: points.length,
      rejectedMessages,
      rejections: rejections.length,
      duplicates: duplicates.length,
      publishes: o.publishes.length,
      connects: runConnects.length,
      disconnects: o.disconnects.length,
    },
    checks,
    series: { arrivals, clockOffsetsMs: offsets },
  };
}

export const passed = (report: ConformanceReport): boolean => report.checks.every((c) => c.outcome !== 'fail');
