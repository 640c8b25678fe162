import { describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import type { HubEvent, Point, Reading } from '../../kernel/telemetry.js';
import { DAY, dayOf, isNight, type Risk } from '../../sim/agenda.js';
import { BEHAVIOURS, isoLocal } from '../../sim/behaviours.js';
import { daysSinceDialysis } from '../../sim/models/fluid.js';
import { mulberry32 } from '../../sim/random.js';

const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86400e3, maxFutureMs: 3600e3 });
const noAttribution = { siteId: null, roomId: null, trialId: null, participantId: null };
const DEVICE: Record<string, string> = {
  'roomsense-3d': 'RS3D-00421',
  'bedwatch-senml': 'BW-1182',
  dosebox: 'DB-0077',
  'medimate-senml': 'MM-204',
  aquascale: 'AQ-3001',
  'vekta-senml': 'VK-77',
};
const T0 = Date.parse('2026-11-23T00:00:00+01:00'); // wall clock at simulated midnight of day 0
const SPEED = 60;
const STEP = 60_000; // the test advances one simulated minute at a time

interface Sent {
  sim: number; // simulated time the payload came out
  at: number; // the wall-clock time the behaviour was given (and stamped)
  payload: string;
  points: Point[];
}

/** Runs a behaviour on a fake wall clock and decodes every payload through the real profile. */
function run(profileId: string, days: number, seed = 1, risk?: Risk): Sent[] {
  const decoder = profiles.get(profileId)!;
  const deviceId = DEVICE[profileId]!;
  let wall = T0;
  const behaviour = BEHAVIOURS[profileId]!({
    deviceId,
    rng: mulberry32(seed),
    clock: () => wall,
    risk,
    start: 0,
    heartbeatS: decoder.profile.expectedIntervalS,
    utcOffsetMin: 60,
  });
  const out: Sent[] = [];
  for (let sim = 0; sim <= days * DAY; sim += STEP) {
    wall = T0 + sim / SPEED;
    for (const payload of behaviour.advance(sim)) {
      const r = decoder.decode({ messageId: 1n, deviceId, payload: Buffer.from(payload), receivedAt: wall, attribution: noAttribution });
      if (!r.ok) expect.fail(`${profileId} rejected ${payload}: ${JSON.stringify(r.problem)}`);
      out.push({ sim, at: wall, payload, points: r.points });
    }
  }
  return out;
}

const events = (sent: Sent[], name?: string): (HubEvent & { sim: number })[] =>
  sent.flatMap((s) => s.points.filter((p): p is HubEvent => p.kind === 'event' && (!name || p.name === name)).map((p) => ({ ...p, sim: s.sim })));
const readings = (sent: Sent[], name: string): (Reading & { sim: number })[] =>
  sent.flatMap((s) => s.points.filter((p): p is Reading => p.kind === 'reading' && p.name === name).map((p) => ({ ...p, sim: s.sim })));
const count = (sent: Sent[], name: string): number => events(sent, name).length;

describe('every simulated payload decodes through its real profile', () => {
  for (const profileId of Object.keys(DEVICE)) {
    it(`${profileId}: two simulated days, nothing rejected, device time = stamped time`, () => {
      const sent = run(profileId, 2);
      expect(sent.length).toBeGreaterThan(10);
      for (const s of sent)
        for (const p of s.points) {
          expect(Math.abs(p.deviceTime - s.at)).toBeLessThan(1000); // seconds-precision dialects round
          expect(p.clockSkewed).toBe(false);
        }
    });
  }

  it('covers exactly the shipped profiles', () => {
    expect(Object.keys(BEHAVIOURS).sort()).toEqual([...profiles.decoders.keys()].sort());
    expect(Object.keys(DEVICE).sort()).toEqual([...profiles.decoders.keys()].sort());
  });
});

describe('dialects', () => {
  it('RoomSense stamps epoch ms; SenML packs carry bn urn:dev:ser:<id>: and bt in epoch seconds', () => {
    const rs = JSON.parse(run('roomsense-3d', 0.1)[0]!.payload) as { sensor: string; time: number };
    expect(rs.sensor).toBe('RS3D-00421');
    expect(Number.isInteger(rs.time)).toBe(true);
    for (const id of ['bedwatch-senml', 'medimate-senml', 'vekta-senml']) {
      const s = run(id, 2)[0]!;
      const [first] = JSON.parse(s.payload) as { bn: string; bt: number }[];
      expect(first!.bn).toBe(`urn:dev:ser:${DEVICE[id]}:`);
      expect(first!.bt).toBeCloseTo(s.at / 1000, 1);
    }
  });

  it('DoseBox writes local time with its offset; AquaScale writes UTC with Z', () => {
    const db = JSON.parse(run('dosebox', 1)[0]!.payload) as { ts: string };
    expect(db.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+01:00$/);
    expect(isoLocal(Date.parse('2026-11-23T07:00:04Z'), 60)).toBe('2026-11-23T08:00:04+01:00');
    expect(isoLocal(Date.parse('2026-07-01T12:00:00Z'), -210)).toBe('2026-07-01T08:30:00-03:30');
    const aq = run('aquascale', 2).map((s) => JSON.parse(s.payload) as { measured_at: string; unit: string });
    expect(aq.every((m) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(m.measured_at))).toBe(true);
  });
});

describe('plausible behaviour', () => {
  it('RoomSense: heartbeats once a simulated minute, bed exits mostly at night, and (rarely) falls', () => {
    const two = run('roomsense-3d', 2);
    expect(readings(two, 'device_uptime').length).toBeGreaterThan(2 * 1440 - 5);
    const month = run('roomsense-3d', 20);
    const falls = count(month, 'fall');
    expect(falls).toBeGreaterThanOrEqual(1);
    expect(falls).toBeLessThan(30); // rare: well under one a day
    const exits = events(month, 'left_bed');
    expect(exits.filter((e) => isNight(e.sim)).length).toBeGreaterThan(exits.length / 2);
    for (const name of ['sat_up', 'rose_from_chair', 'left_room', 'entered_room']) expect(count(month, name)).toBeGreaterThan(0);
  });

  it('BedWatch: sitting up and leaving bed mostly at night, occupancy every 5 min, battery running down', () => {
    const sent = run('bedwatch-senml', 14);
    for (const name of ['sat_up', 'left_bed']) {
      const ev = events(sent, name);
      expect(ev.length).toBeGreaterThan(7);
      expect(ev.filter((e) => isNight(e.sim)).length).toBeGreaterThan(ev.length / 2);
    }
    expect(readings(sent, 'bed_occupied').length).toBeGreaterThan(14 * 288 - 5);
    const battery = readings(sent, 'battery_level').map((r) => r.value);
    expect(battery.at(-1)!).toBeLessThan(battery[0]!);
    expect(readings(sent, 'respiratory_rate').length).toBeGreaterThan(0);
  });

  for (const profileId of ['dosebox', 'medimate-senml']) {
    it(`${profileId}: four scheduled doses a day, about one in ten missed, stock and faults now and then`, () => {
      const sent = run(profileId, 28);
      const ready = events(sent, 'dose_ready');
      expect(ready.length).toBeGreaterThanOrEqual(28 * 4 - count(sent, 'empty') - 1);
      const taken = count(sent, 'dose_taken');
      const missed = count(sent, 'dose_missed');
      expect(missed).toBeGreaterThan(0);
      expect(missed / (taken + missed)).toBeGreaterThan(0.03);
      expect(missed / (taken + missed)).toBeLessThan(0.2);
      // Ready at 08, 13, 18 or 22 simulated time (a jam delays an offer by up to 40 min).
      const hours = new Set(ready.map((e) => Math.floor((e.sim % DAY) / 3_600_000)));
      expect([...hours].every((h) => [8, 13, 18, 22].includes(h))).toBe(true);
      expect(readings(sent, 'doses_left').length).toBeGreaterThan(0);
      expect(count(sent, 'jam') + count(sent, 'empty')).toBeGreaterThan(0);
      const battery = readings(sent, 'battery_level')
        .filter((r) => r.sim < 2 * DAY)
        .map((r) => r.value);
      expect(battery.at(-1)!).toBeLessThan(battery[0]!); // (later it may be charged or swapped)
    });
  }

  it('DoseBox: refill soon when stock runs low, and empty when the refill comes late', () => {
    const sent = run('dosebox', 60);
    expect(count(sent, 'refill_soon')).toBeGreaterThan(3);
    expect(count(sent, 'empty')).toBeGreaterThan(0);
    expect(count(sent, 'lid_open')).toBeGreaterThan(3);
  });

  it('AquaScale: a weight every morning, creeping up between dialysis days; intake and output volumes by day', () => {
    const sent = run('aquascale', 14);
    const weights = readings(sent, 'body_weight');
    expect(weights.length).toBe(14);
    const byGap = new Map<number, number[]>();
    for (const w of weights) byGap.set(daysSinceDialysis(dayOf(w.sim)), [...(byGap.get(daysSinceDialysis(dayOf(w.sim))) ?? []), w.value]);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    expect(mean(byGap.get(2)!)).toBeGreaterThan(mean(byGap.get(1)!));
    expect(mean(byGap.get(3)!)).toBeGreaterThan(mean(byGap.get(2)!));
    const intake = readings(sent, 'fluid_intake');
    const output = readings(sent, 'fluid_output');
    expect(intake.length).toBeGreaterThan(14 * 4);
    expect(output.length).toBeGreaterThan(14 * 2);
    // Millilitres and litres alike normalise to plausible cups, in the catalogue's mL.
    expect(intake.every((r) => r.unit === 'mL' && r.value >= 100 && r.value <= 300)).toBe(true);
    expect(intake.every((r) => !isNight(r.sim) || (r.sim % DAY) / 3_600_000 >= 22)).toBe(true);
  });

  it('Vekta: morning weight in kg with battery, and drinks', () => {
    const sent = run('vekta-senml', 7);
    expect(readings(sent, 'body_weight').length).toBe(7);
    expect(readings(sent, 'fluid_intake').length).toBeGreaterThan(7 * 4);
    expect(readings(sent, 'battery_level').length).toBe(7);
  });
});

describe('an intervention', () => {
  // Factor 0 from day 10: any fall or missed dose after it would be the model ignoring the risk.
  const from = 10 * DAY;
  const none: Risk = (sim) => (sim >= from ? 0 : 1);
  it('RoomSense: falls as before until it starts, none after a factor of 0', () => {
    const base = events(run('roomsense-3d', 30, 3), 'fall');
    const withIt = events(run('roomsense-3d', 30, 3, none), 'fall');
    expect(base.filter((e) => e.sim >= from).length).toBeGreaterThan(0);
    expect(withIt.filter((e) => e.sim >= from)).toEqual([]);
    expect(withIt.map((e) => e.sim)).toEqual(base.filter((e) => e.sim < from).map((e) => e.sim));
  });
  it('DoseBox: doses missed as before until it starts, none after a factor of 0', () => {
    const base = events(run('dosebox', 28, 3), 'dose_missed');
    const withIt = events(run('dosebox', 28, 3, none), 'dose_missed');
    expect(base.filter((e) => e.sim >= from).length).toBeGreaterThan(0);
    expect(withIt.filter((e) => e.sim >= from)).toEqual([]);
    expect(withIt.filter((e) => e.sim < from).length).toBeGreaterThan(0);
  });
});

describe('determinism', () => {
  for (const profileId of Object.keys(DEVICE)) {
    it(`${profileId}: the same seed gives the same payloads; another seed does not`, () => {
      const a = run(profileId, 2, 42).map((s) => s.payload);
      expect(run(profileId, 2, 42).map((s) => s.payload)).toEqual(a);
      expect(run(profileId, 2, 43).map((s) => s.payload)).not.toEqual(a);
    });
  }
});
