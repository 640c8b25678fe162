import { describe, expect, it } from 'vitest';
import { RULE_EVENTS, ruleEventProblems } from '../../alarms/rules/codes.js';
import { shippedCatalogue } from '../../device-profiles/catalogue.js';
import { VKP_ALERT } from '../../kernel/vkp.js';
import { MIN, aquaScale, at, bedWatch, cleared, doseBox, harness, heartbeat, mediMate, raised, roomSense, rules } from './fixtures.js';

const P = (participantId: string) => ({ participantId, trialId: 'trial-1' });

describe("every rule carries a published VKP alert code and severity, from the catalogue's event", () => {
  it('the shipped catalogue has every rule event', () => expect(ruleEventProblems(shippedCatalogue())).toEqual([]));
  it.each(Object.entries(RULE_EVENTS))('%s', (_rule, event) => {
    const def = shippedCatalogue().events.get(event);
    expect(VKP_ALERT.display.has(def?.alert ?? '')).toBe(true);
    expect([10, 20, 30, 40]).toContain(def?.severity);
  });
});

describe('fall: VKP 4.1, always critical', () => {
  it('a RoomSense fall raises one critical alarm for the room, with where it happened', () => {
    const [s, ...rest] = raised(harness().feed(roomSense('FALL_DETECTED', at('2026-11-23T03:12'), {}, { confidence: 0.94, zone: 'floor-bedside' })));
    expect(rest).toEqual([]);
    expect(s).toMatchObject({ rule: 'fall', alertCode: '4.1', severity: 40, key: 'fall|r:room-1', detail: { zone: 'floor-bedside' } });
    expect(s!.source).toMatch(/^\d+:0$/);
  });
  it('is about the participant when the device is assigned to one', () => {
    const [s] = raised(harness().feed(roomSense('FALL_DETECTED', at('2026-11-23T03:12'), P('p-1'))));
    expect(s).toMatchObject({ key: 'fall|p:p-1', place: { participantId: 'p-1', trialId: 'trial-1', roomId: 'room-1', deviceId: 'RS3D-1' } });
  });
});

describe('left bed (4.2) and sat up (4.3): per participant and time of day', () => {
  it('by default a bed exit raises at any hour and sitting up raises nothing', () => {
    const h = harness();
    expect(rules(h.feed(roomSense('BED_EXIT', at('2026-11-23T14:00'))))).toEqual(['left_bed']);
    expect(rules(h.feed(roomSense('SITTING_ON_BED_EDGE', at('2026-11-23T14:01'))))).toEqual([]);
  });
  it('a night window (22:00–07:00, across midnight) raises both at night only', () => {
    const h = harness({ 'p-night': { bedExit: { leftBed: true, satUp: true, windows: [{ from: '22:00', to: '07:00' }] } } });
    const who = P('p-night');
    expect(rules(h.feed(roomSense('SITTING_ON_BED_EDGE', at('2026-11-23T23:30'), who)))).toEqual(['sat_up']);
    expect(rules(h.feed(bedWatch([{ n: 'exit', vs: 'left_bed' }], at('2026-11-23T23:31'), who)))).toEqual(['left_bed']);
    expect(rules(h.feed(roomSense('BED_EXIT', at('2026-11-24T06:59'), who)))).toEqual(['left_bed']);
    expect(rules(h.feed(roomSense('BED_EXIT', at('2026-11-24T07:00'), who)))).toEqual([]);
    expect(rules(h.feed(roomSense('SITTING_ON_BED_EDGE', at('2026-11-24T10:00'), who)))).toEqual([]);
    expect(rules(h.feed(roomSense('BED_EXIT', at('2026-11-24T21:59'), who)))).toEqual([]);
  });
  it('a participant who may walk freely raises no bed-exit alarm', () => {
    const h = harness({ 'p-walks': { bedExit: { leftBed: false } } });
    expect(rules(h.feed(roomSense('BED_EXIT', at('2026-11-23T02:00'), P('p-walks'))))).toEqual([]);
  });
  it('codes and severity come from the profile: BedWatch 4.2 / 4.3 at 20', () => {
    const h = harness({ p: { bedExit: { satUp: true } } });
    const signals = raised(
      h.feed(
        bedWatch([{ n: 'exit', vs: 'sat_up' }], at('2026-11-23T01:00'), P('p')),
        bedWatch([{ n: 'exit', vs: 'left_bed' }], at('2026-11-23T01:01'), P('p')),
      ),
    );
    expect(signals.map((s) => [s.rule, s.alertCode, s.severity])).toEqual([
      ['sat_up', '4.3', 20],
      ['left_bed', '4.2', 20],
    ]);
  });
});

describe('long bathroom stay (4.23): per participant, time of day and minimum duration', () => {
  const stay = (t: number, duration: number, who = {}) => roomSense('LONG_BATHROOM_STAY', t, who, { zone: 'bathroom', duration_s: duration });
  it('raises with the code the profile gives (4.23 Inaktivitet bad), serious', () => {
    const [s] = raised(harness().feed(stay(at('2026-11-23T09:00'), 1320)));
    expect(s).toMatchObject({ rule: 'long_stay', alertCode: '4.23', severity: 30, detail: { duration_s: 1320, zone: 'bathroom' } });
  });
  it('a participant who needs longer raises only past their minimum, and only in their window', () => {
    const h = harness({ slow: { longStay: { minDurationS: 1800, windows: [{ from: '20:00', to: '08:00' }] } } });
    expect(rules(h.feed(stay(at('2026-11-23T22:00'), 1320, P('slow'))))).toEqual([]);
    expect(rules(h.feed(stay(at('2026-11-23T22:40'), 2000, P('slow'))))).toEqual(['long_stay']);
    expect(rules(h.feed(stay(at('2026-11-24T12:00'), 4000, P('slow'))))).toEqual([]);
  });
  it('can be switched off for a participant', () => {
    expect(rules(harness({ off: { longStay: { enabled: false } } }).feed(stay(at('2026-11-23T22:00'), 5000, P('off'))))).toEqual([]);
  });
});

describe('dose not taken within its window (1.1, 1.3), alerting whom the participant names', () => {
  const notify = ['home nurse', 'daughter'];
  it("a miss the dispenser reports raises with its code and the participant's recipients", () => {
    const h = harness({ p: { dose: { notify } } });
    expect(raised(h.feed(doseBox('DOSE_MISSED', at('2026-11-23T14:00'), P('p'), { slot: 15, window_min: 60 })))).toEqual([
      expect.objectContaining({ rule: 'dose_missed', alertCode: '1.1', severity: 30, notify, key: 'dose_missed|p:p' }),
    ]);
    expect(raised(h.feed(mediMate('dose', 'unconfirmed', at('2026-11-23T15:00'), P('p'))))[0]).toMatchObject({ alertCode: '1.3', notify });
  });
  it("the hub judges the participant's window itself: ready and not taken in 30 min is missed (1.3)", () => {
    const h = harness({ p: { dose: { windowMin: 30, notify } } });
    h.feed(doseBox('DOSE_READY', at('2026-11-23T08:00'), P('p'), { slot: 14 }));
    expect(h.tick(at('2026-11-23T08:29'))).toEqual([]);
    const [s] = raised(h.tick(at('2026-11-23T08:31')));
    expect(s).toMatchObject({ rule: 'dose_missed', alertCode: '1.3', severity: 30, notify, detail: { by: 'hub', slot: '14' }, source: null });
    expect(h.tick(at('2026-11-23T08:40'))).toEqual([]);
  });
  it('a dose taken in time, or a window nobody set, raises nothing', () => {
    const h = harness({ p: { dose: { windowMin: 30 } } });
    h.feed(doseBox('DOSE_READY', at('2026-11-23T08:00'), P('p'), { slot: 14 }), doseBox('DOSE_TAKEN', at('2026-11-23T08:10'), P('p'), { slot: 14 }));
    h.feed(doseBox('DOSE_READY', at('2026-11-23T08:00'), P('q'), { slot: 14 }));
    // Within DoseBox's offline limit (3600 s × 2), so only the dose rule could speak.
    expect(h.tick(at('2026-11-23T09:30'))).toEqual([]);
  });
});

describe('dispenser faults: jam, empty, refill soon, battery low/empty, mains lost, lid open', () => {
  it.each([
    ['JAM', 'dispenser_jam', '1.8', 30],
    ['EMPTY', 'dispenser_empty', '1.13', 30],
    ['LOW_STOCK', 'refill_soon', '1.12', 20],
    ['DOOR_OPEN', 'lid_open', '1.21', 20],
    ['AC_LOST', 'mains_lost', '1.19', 20],
  ])('DoseBox %s → %s (VKP %s, severity %i), one per device', (evt, rule, code, severity) => {
    const [s, ...rest] = raised(harness().feed(doseBox(evt, at('2026-11-23T10:00'), P('p'), { doses_left: 3 })));
    expect(rest).toEqual([]);
    expect(s).toMatchObject({ rule, alertCode: code, severity, key: `${rule}|d:DB-1` });
  });
  it('MediMate battery empty (1.18) and faults by SenML record', () => {
    expect(raised(harness().feed(mediMate('fault', 'battery_empty', at('2026-11-23T10:00'))))[0]).toMatchObject({ rule: 'battery_empty', alertCode: '1.18' });
    expect(rules(harness().feed(mediMate('fault', 'jam', at('2026-11-23T10:00'))))).toEqual(['dispenser_jam']);
  });
  it("battery low at the profile's threshold (1.17), empty at 0 (1.18), cleared with hysteresis", () => {
    const h = harness();
    const battery = (pct: number, t: string) => doseBox('BATTERY', at(t), {}, { pct });
    expect(raised(h.feed(battery(19, '2026-11-23T10:00')))[0]).toMatchObject({
      rule: 'battery_low',
      alertCode: '1.17',
      severity: 20,
      detail: { batteryPct: 19, thresholdPct: 20 },
    });
    expect(rules(h.feed(battery(0, '2026-11-23T11:00')))).toEqual(['battery_empty']);
    expect(h.feed(battery(22, '2026-11-23T12:00'))).toEqual([]);
    expect(cleared(h.feed(battery(80, '2026-11-23T13:00')))).toEqual(['battery_low|d:DB-1', 'battery_empty|d:DB-1']);
  });
  it('BedWatch declares its own threshold (15 %)', () => {
    const h = harness();
    expect(rules(h.feed(bedWatch([{ n: 'battery', u: '%EL', v: 18 }], at('2026-11-23T10:00'))))).toEqual([]);
    expect(rules(h.feed(bedWatch([{ n: 'battery', u: '%EL', v: 9 }], at('2026-11-23T11:00'))))).toEqual(['battery_low']);
  });
  it('mains restored, as an event or a reading, clears mains lost', () => {
    const h = harness();
    expect(cleared(h.feed(doseBox('AC_RESTORED', at('2026-11-23T10:00'))))).toEqual(['mains_lost|d:DB-1']);
    expect(rules(h.feed(heartbeat(at('2026-11-23T10:01'), {}, false)))).toEqual(['mains_lost']);
    expect(cleared(h.feed(heartbeat(at('2026-11-23T10:02'))))).toEqual(['mains_lost|d:RS3D-1']);
  });
});

describe('fluid balance over a rolling window and weight against the target weight (clinician thresholds)', () => {
  const dialysis = { fluid: { windowH: 24, maxNetGainMl: 1500, maxNetLossMl: 1000 }, weight: { targetKg: 70, maxGainKg: 2 } };
  it('raises when intake minus output over 24 h passes the limit; old volumes leave the window', () => {
    const h = harness({ d: dialysis });
    const who = P('d');
    expect(h.feed(aquaScale('intake', 800, 'ml', at('2026-11-23T08:00'), who), aquaScale('intake', 0.5, 'l', at('2026-11-23T12:00'), who))).toEqual([]);
    expect(h.feed(aquaScale('output', 300, 'ml', at('2026-11-23T16:00'), who))).toEqual([]);
    const [s] = raised(h.feed(aquaScale('intake', 900, 'ml', at('2026-11-23T20:00'), who)));
    expect(s).toMatchObject({
      rule: 'fluid_balance',
      alertCode: '5',
      severity: 30,
      key: 'fluid_balance|p:d|gain',
      detail: { netMl: 1900, windowH: 24, limitMl: 1500, direction: 'gain' },
    });
    // Next day 13:00: the 08:00 and 12:00 intakes are out of the window; 900 - 300 + 100 = 700.
    expect(h.feed(aquaScale('intake', 100, 'ml', at('2026-11-24T13:00'), who))).toEqual([]);
  });
  it('raises on a net loss beyond its own limit', () => {
    const h = harness({ d: dialysis });
    expect(raised(h.feed(aquaScale('output', 1200, 'ml', at('2026-11-23T08:00'), P('d'))))[0]).toMatchObject({
      key: 'fluid_balance|p:d|loss',
      detail: { netMl: -1200, direction: 'loss' },
    });
  });
  it('weight more than the allowed gain above the target (dry) weight raises', () => {
    const h = harness({ d: dialysis });
    expect(h.feed(aquaScale('weight', 71_500, 'g', at('2026-11-23T07:00'), P('d')))).toEqual([]);
    expect(raised(h.feed(aquaScale('weight', 72_450, 'g', at('2026-11-24T07:00'), P('d'))))[0]).toMatchObject({
      rule: 'weight_gain',
      detail: { weightKg: 72.45, targetKg: 70, gainKg: 2.45, limitKg: 2 },
    });
  });
  it('without thresholds, or without a participant, nothing is judged', () => {
    const h = harness({ d: dialysis });
    expect(
      h.feed(aquaScale('intake', 5000, 'ml', at('2026-11-23T08:00'), P('nobody-set-limits')), aquaScale('weight', 120, 'kg', at('2026-11-23T08:00'))),
    ).toEqual([]);
  });
});

describe('a missing expected measurement: no daily weight by 10:00 (5.3.2), once a day', () => {
  const daily = { roomId: 'room-9', daily: [{ measurement: 'body_weight', by: '10:00' }] };
  it("raises after 10:00 when no weight came that day, on the participant's room", () => {
    const h = harness({ d: daily });
    expect(h.tick(at('2026-11-23T09:59'))).toEqual([]);
    const [s] = raised(h.tick(at('2026-11-23T10:01')));
    expect(s).toMatchObject({
      rule: 'missing_measurement',
      alertCode: '5.3.2',
      severity: 20,
      once: true,
      key: 'missing_measurement|p:d|body_weight|2026-11-23',
      place: { siteId: 'site-a', roomId: 'room-9', participantId: 'd' },
    });
  });
  it("a weight that morning satisfies it; yesterday's does not; a late one clears today's alarm", () => {
    const h = harness({ d: daily });
    h.feed(aquaScale('weight', 72, 'kg', at('2026-11-23T07:30'), P('d')));
    expect(h.tick(at('2026-11-23T10:30'))).toEqual([]);
    expect(rules(h.tick(at('2026-11-24T10:30')))).toEqual(['missing_measurement']);
    expect(cleared(h.feed(aquaScale('weight', 72, 'kg', at('2026-11-24T11:00'), P('d'))))).toEqual(['missing_measurement|p:d|body_weight|2026-11-24']);
  });
});

describe('device offline (1.20): silence for expectedIntervalS × N, or its MQTT will', () => {
  it('RoomSense (60 s × 3): offline once after 180 s of silence, back online with the next message', () => {
    const h = harness();
    const t0 = at('2026-11-23T10:00');
    h.feed(heartbeat(t0));
    expect(h.tick(t0 + 180_000)).toEqual([]);
    const [s] = raised(h.tick(t0 + 181_000));
    expect(s).toMatchObject({
      rule: 'device_offline',
      alertCode: '1.20',
      severity: 30,
      key: 'device_offline|d:RS3D-1',
      detail: { via: 'silence', silentS: 181 },
    });
    expect(h.tick(t0 + 600_000)).toEqual([]);
    expect(cleared(h.feed(heartbeat(t0 + 700_000)))).toContain('device_offline|d:RS3D-1');
  });
  it.each([
    ['RoomSense', () => roomSense('OFFLINE', at('2026-11-23T10:00'))],
    ['BedWatch', () => bedWatch([{ n: 'status', vs: 'offline' }], at('2026-11-23T10:00'))],
    ['DoseBox', () => doseBox('NO_CONTACT', at('2026-11-23T10:00'))],
    ['MediMate', () => mediMate('fault', 'no_contact', at('2026-11-23T10:00'))],
  ])('%s: the will its profile maps to no_contact marks it offline at once, and silence adds nothing', (_name, will) => {
    const h = harness();
    const [s] = raised(h.feed(will()));
    expect(s).toMatchObject({ rule: 'device_offline', alertCode: '1.20', detail: { via: 'will' } });
    expect(h.tick(at('2026-11-25T10:00'))).toEqual([]);
  });
  it('a device never heard from has not gone offline; a late message from before the silence does not bring it back', () => {
    const h = harness();
    expect(h.tick(at('2026-11-23T10:00'))).toEqual([]);
    const t0 = at('2026-11-23T10:00');
    h.feed(heartbeat(t0));
    h.tick(t0 + 10 * MIN);
    expect(cleared(h.feed(heartbeat(t0 + 30_000)))).not.toContain('device_offline|d:RS3D-1');
  });
  it('reports the health change for the board', () => {
    const h = harness();
    const t0 = at('2026-11-23T10:00');
    h.feed(heartbeat(t0));
    expect(h.evaluator.tick(t0 + 10 * MIN).health).toEqual([expect.objectContaining({ deviceId: 'RS3D-1', offlineSince: t0 + 10 * MIN, mains: true })]);
  });
});

describe('pause: a participant who is away raises nothing', () => {
  it('no fall, bed exit, dose or offline alarm while paused; the same events raise once resumed', () => {
    const h = harness({ away: { paused: true, dose: { windowMin: 10 } } });
    const who = P('away');
    const t0 = at('2026-11-23T10:00');
    expect(
      h.feed(roomSense('FALL_DETECTED', t0, who), roomSense('BED_EXIT', t0, who), doseBox('DOSE_MISSED', t0, who), doseBox('DOSE_READY', t0, who)),
    ).toEqual([]);
    expect(raised(h.tick(t0 + 60 * MIN))).toEqual([]);
    h.settings.set('away', { ...h.settings.get('away')!, paused: false });
    expect(rules(h.feed(roomSense('FALL_DETECTED', t0 + 61 * MIN, who)))).toEqual(['fall']);
  });
});

describe('profiles decide which events open alarms', () => {
  it('routine events raise nothing: room entry and exit, chair, blocked sensor, ready and taken doses', () => {
    const h = harness();
    const t = at('2026-11-23T10:00');
    expect(
      h.feed(
        roomSense('ROOM_ENTRY', t),
        roomSense('ROOM_EXIT', t),
        roomSense('CHAIR_EXIT', t),
        roomSense('SENSOR_BLOCKED', t),
        doseBox('DOSE_READY', t),
        doseBox('DOSE_TAKEN', t),
        doseBox('TRAVEL_PACK', t, {}, { doses: 6 }),
      ),
    ).toEqual([]);
  });
  it('inactivity (4.9) is an alarm for RoomSense', () => {
    expect(raised(harness().feed(roomSense('INACTIVITY', at('2026-11-23T10:00'), {}, { duration_s: 7200 })))[0]).toMatchObject({
      rule: 'inactivity',
      alertCode: '4.9',
      severity: 30,
    });
  });
});
