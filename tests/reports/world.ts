import { migrateAlarmTables, upsertSettings } from '../../alarms/store.js';
import { AlarmSettingsInput } from '../../kernel/alarms.js';
import type { Registry } from '../../kernel/registry.js';
import type { SqlClient } from '../../kernel/sql.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Family, HubEvent, IngestBatch, Point, Reading, Rejection } from '../../kernel/telemetry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';

/**
 * A seeded trial with known answers (tests/reports/expected.json was worked out by hand
 * from the list below, not by the code under test):
 *
 * - period 2025-03-03 (a Monday) + 28 days; baseline the first 14 days; intervention
 *   from day 14. P1..P6 hold research and vendor.telemetry from before the start; P7
 *   holds neither, and everything of P7 must stay out.
 * - each Pi has RS-i (roomsense-3d), AQ-i (aquascale) and DB-i (dosebox) for the whole period.
 * - falls by week: 6, 4 | 3, 2 (P7: 5 a week); fall alarms 5, 3 | 2, 2 round robin over
 *   P1..P6, acknowledged after 30, 60 … 240 s | 20, 40, 60, 80 s; 2 | 1 of them false alarms.
 * - doses: P1..P5 one a day for 4 days per period; baseline 3 taken 1 missed each
 *   (P1's first taken 90 min after ready, window 60 min: late); intervention P1..P3
 *   4 taken, P4, P5 3 taken 1 missed.
 * - a weight every day at 07:00 for P1..P6 (and P7), except P1 on days 2..5; on days 15
 *   and 16 P2, P3 also got a "measurement not reported" alarm (VKP 5.3.2).
 * - DB-1 went offline (no_contact and a 1.20 alarm) twice in the baseline, once after.
 * - AQ-1 sent 4 messages rejected with SCHEMA_VIOLATION on day 1 (AQ-7 too).
 * - fluid balance: the scale's daily message (the one with the weight) also carries two
 *   fluid_intake readings (09:00, 13:00) and a fluid_output of 1000 mL (18:00), so the
 *   records, completeness and uptime above do not change. Net (intake − output) per day:
 *   P1 1500 on even days, −300 on odd ones (no data on days 2..5, output only on day 0);
 *   P2 1000 on days 0..9, 1600 on 10..13, 1200 on 14..26 (intake only on day 27); P3, P7
 *   0 and P4 250 every day; none for P5, P6.
 * - the clinicians' targets (alarm settings, FLUID_TARGETS below) as [−maxNetLossMl,
 *   maxNetGainMl]: P1 [−500, 1000] from day −2 (a weight-only change on day 8), then
 *   (−∞, 2000] from day 16 15:00; P2 none until (−∞, 1500] on day 3 12:00, [−800, 800]
 *   from day 20 08:00; P3 none; P4 [−1000, 1000] from day −5, none (both limits null)
 *   from day 7 09:00, [−200, 200] on day 21 06:00 and [−100, 250] at 18:00 (a bound
 *   counts as within); P7 [−500, 500], but P7 releases nothing.
 *   Each day is judged by the target at its end, so days within / days counted:
 *   week 1: P1 1/2 (day 1), P2 4/4 (days 3..6), P4 7/7 = 12/13;
 *   week 2: P1 4/7, P2 3/7 (days 7..9 in, 10..13 over 1500), P4 none = 7/14;
 *   week 3: P1 6/7 (day 14 over 1000; 16 judged by the new target), P2 6/7 (day 20
 *   over 800) = 12/14; week 4: P1 7/7, P2 0/6, P4 7/7 (by [−100, 250]) = 14/20;
 *   baseline 19/27, intervention 26/34, three participants in each. Judged by today's
 *   targets instead it would be 23/37 and 28/41.
 */

export const DAY = 86_400_000;
export const T = Date.parse('2025-03-03T00:00:00Z');
export const TRIAL = 'trial-eval';
export const PARTICIPANTS = ['P1', 'P2', 'P3', 'P4', 'P5', 'P6'];
const ALL = [...PARTICIPANTS, 'P7'];
const ALARMS = 'hub-alarms';
const HOUR = 3_600_000;

/** The clinicians' fluid-balance targets as they changed (see above): participant, when, settings. */
export const FLUID_TARGETS: [string, number, Partial<AlarmSettingsInput>][] = [
  ['P1', T - 2 * DAY, { fluid: { maxNetGainMl: 1000, maxNetLossMl: 500 } }],
  ['P1', T + 8 * DAY + 10 * HOUR, { fluid: { maxNetGainMl: 1000, maxNetLossMl: 500 }, weight: { targetKg: 70, maxGainKg: 2 } }],
  ['P1', T + 16 * DAY + 15 * HOUR, { fluid: { maxNetGainMl: 2000 }, weight: { targetKg: 70, maxGainKg: 2 } }],
  ['P2', T + 3 * DAY + 12 * HOUR, { fluid: { maxNetGainMl: 1500 } }],
  ['P2', T + 20 * DAY + 8 * HOUR, { fluid: { maxNetGainMl: 800, maxNetLossMl: 800 } }],
  ['P4', T - 5 * DAY, { fluid: { maxNetGainMl: 1000, maxNetLossMl: 1000 } }],
  ['P4', T + 7 * DAY + 9 * HOUR, {}],
  ['P4', T + 21 * DAY + 6 * HOUR, { fluid: { maxNetGainMl: 200, maxNetLossMl: 200 } }],
  ['P4', T + 21 * DAY + 18 * HOUR, { fluid: { maxNetGainMl: 250, maxNetLossMl: 100 } }],
  ['P7', T - DAY, { fluid: { maxNetGainMl: 500, maxNetLossMl: 500 } }],
];

/** The targets through the alarm settings' own write path, each at its time, in the alarm tables on `sql`. */
export async function seedFluidTargets(sql: SqlClient): Promise<void> {
  await migrateAlarmTables(sql, T - 10 * DAY);
  for (const [participantId, at, settings] of FLUID_TARGETS) {
    await upsertSettings(sql, {
      ...AlarmSettingsInput.parse({ siteId: 'site-e', ...settings }),
      participantId,
      updatedAt: at,
      updatedBy: { id: 'tok-nurse', label: 'nurse' },
    });
  }
}

export async function seedRegistry(reg: Registry & TokenRegistry): Promise<void> {
  await reg.createSite({ id: 'site-e', name: 'Ward E', kind: 'patient-room' });
  for (const [id, name] of [
    ['roomsense', 'RoomSense'],
    ['aquascale', 'AquaScale'],
    ['dosebox', 'DoseBox'],
  ])
    await reg.createVendor({ id: id!, name: name! });
  for (const p of ALL) {
    const i = p.slice(1);
    await reg.createDevice({ id: `RS-${i}`, vendorId: 'roomsense', profileId: 'roomsense-3d', siteId: 'site-e' });
    await reg.createDevice({ id: `AQ-${i}`, vendorId: 'aquascale', profileId: 'aquascale', siteId: 'site-e' });
    await reg.createDevice({ id: `DB-${i}`, vendorId: 'dosebox', profileId: 'dosebox', siteId: 'site-e' });
  }
  await reg.createTrial({
    id: TRIAL,
    name: 'Fall and medication evaluation',
    siteId: 'site-e',
    vendorIds: ['roomsense', 'aquascale', 'dosebox'],
    protocolRef: 'REK 2025/42',
    period: { from: T, to: T + 28 * DAY },
    baseline: { from: T, to: T + 14 * DAY },
    interventionFrom: T + 14 * DAY,
  });
  for (const p of ALL) {
    await reg.enrolParticipant({ id: p, trialId: TRIAL });
    const i = p.slice(1);
    for (const d of [`RS-${i}`, `AQ-${i}`, `DB-${i}`]) await reg.createAssignment({ trialId: TRIAL, deviceId: d, participantId: p, from: T });
    if (p !== 'P7')
      for (const scope of ['research', 'vendor.telemetry'] as const) await reg.grantConsent({ participantId: p, scope, grantedAt: T - DAY, formVersion: 'v1' });
  }
}

let nextId = 1n;
const base = (deviceId: string, profileId: string, family: Family, participantId: string, name: string, at: number) => ({
  messageId: nextId++,
  seq: 0,
  deviceId,
  profileId,
  family,
  siteId: 'site-e',
  roomId: null,
  trialId: TRIAL,
  participantId,
  name,
  deviceTime: at,
  receivedAt: at,
  clockSkewed: false,
});
const event = (
  deviceId: string,
  profileId: string,
  family: Family,
  pid: string,
  name: string,
  at: number,
  alertCode: string | null,
  attributes: HubEvent['attributes'] = {},
): HubEvent => ({
  ...base(deviceId, profileId, family, pid, name, at),
  kind: 'event',
  alertCode,
  dispenseCode: null,
  severity: 30,
  attributes,
});
const dev = (p: string, kind: 'RS' | 'AQ' | 'DB') => `${kind}-${p.slice(1)}`;

export function seedPoints(): { points: Point[]; rejections: Rejection[] } {
  const points: Point[] = [];
  const fall = (p: string, at: number) => points.push(event(dev(p, 'RS'), 'roomsense-3d', 'fall-sensor', p, 'fall', at, '4.1'));
  const falls: string[][] = [
    ['P1', 'P1', 'P2', 'P2', 'P3', 'P4'],
    ['P1', 'P2', 'P5', 'P6'],
    ['P1', 'P3', 'P5'],
    ['P2', 'P4'],
  ];
  falls.forEach((list, week) => {
    list.forEach((p, j) => fall(p, T + week * 7 * DAY + DAY + j * 3_600_000));
    for (let j = 0; j < 5; j++) fall('P7', T + week * 7 * DAY + 2 * DAY + j * 3_600_000);
  });

  let alarmNo = 0;
  const alarm = (p: string, name: string, at: number, code: string, extra: HubEvent['attributes'] = {}) =>
    points.push(
      event(ALARMS, ALARMS, code.startsWith('4') ? 'fall-sensor' : code.startsWith('5') ? 'fluid-balance' : 'medication-dispenser', p, name, at, code, {
        alarmId: `a${alarmNo}`,
        ...extra,
      }),
    );
  const fallAlarms = [5, 3, 2, 2];
  const acks = [
    [30, 60, 90, 120, 150],
    [180, 210, 240],
    [20, 40],
    [60, 80],
  ];
  const falseAlarms = new Set(['0:0', '1:2', '2:1']);
  let rr = 0;
  fallAlarms.forEach((n, week) => {
    for (let j = 0; j < n; j++) {
      const p = PARTICIPANTS[rr++ % 6]!;
      const raised = T + week * 7 * DAY + 3 * DAY + j * 3_600_000;
      alarmNo++;
      alarm(p, 'alarm_raised', raised, '4.1', { sourceDeviceId: dev(p, 'RS'), secondsSinceRaised: 0 });
      const s = acks[week]![j]!;
      alarm(p, 'alarm_acknowledged', raised + s * 1000, '4.1', { sourceDeviceId: dev(p, 'RS'), secondsSinceRaised: s });
      const closing = falseAlarms.has(`${week}:${j}`) ? 'alarm_false_alarm' : 'alarm_resolved';
      alarm(p, closing, raised + (s + 600) * 1000, '4.1', { sourceDeviceId: dev(p, 'RS'), secondsSinceRaised: s + 600 });
    }
  });

  const dose = (p: string, name: string, at: number, code: string | null) =>
    points.push(event(dev(p, 'DB'), 'dosebox', 'medication-dispenser', p, name, at, code, { window_min: 60, slot: 1 }));
  for (const [period, start] of [
    ['baseline', T],
    ['intervention', T + 14 * DAY],
  ] as const) {
    PARTICIPANTS.slice(0, 5).forEach((p, k) => {
      for (let d = 0; d < 4; d++) {
        const ready = start + (d + 1) * DAY + 8 * 3_600_000;
        dose(p, 'dose_ready', ready, '1.10');
        const missed = period === 'baseline' ? d === 3 : k >= 3 && d === 3;
        if (missed) dose(p, 'dose_missed', ready + 61 * 60_000, '1.1');
        else dose(p, 'dose_taken', ready + (period === 'baseline' && k === 0 && d === 0 ? 90 : 30) * 60_000, null);
      }
    });
  }

  for (const at of [T + 5 * DAY, T + 9 * DAY, T + 20 * DAY]) {
    points.push(event('DB-1', 'dosebox', 'medication-dispenser', 'P1', 'no_contact', at, '1.20'));
    alarmNo++;
    alarm('P1', 'alarm_raised', at + 60_000, '1.20', { sourceDeviceId: 'DB-1', secondsSinceRaised: 0 });
  }

  for (const p of ALL) {
    for (let d = 0; d < 28; d++) {
      if (p === 'P1' && d >= 2 && d <= 5) continue;
      const at = T + d * DAY + 7 * 3_600_000;
      const reading: Reading = { ...base(dev(p, 'AQ'), 'aquascale', 'fluid-balance', p, 'body_weight', at), kind: 'reading', value: 70 + d / 10, unit: 'kg' };
      points.push(reading);
    }
  }
  for (const r of [...points]) {
    const p = r.participantId!;
    if (r.kind !== 'reading' || r.name !== 'body_weight' || p === 'P5' || p === 'P6') continue;
    const d = (r.deviceTime - 7 * HOUR - T) / DAY;
    const net = p === 'P1' ? (d % 2 === 0 ? 1500 : -300) : p === 'P2' ? (d < 10 ? 1000 : d < 14 ? 1600 : 1200) : p === 'P4' ? 250 : 0;
    const fluid = (seq: number, name: string, hour: number, value: number): Reading => ({
      ...base(r.deviceId, 'aquascale', 'fluid-balance', p, name, T + d * DAY + hour * HOUR),
      messageId: r.messageId,
      seq,
      kind: 'reading',
      value,
      unit: 'mL',
    });
    const intake = [fluid(1, 'fluid_intake', 9, (net + 1000) / 2), fluid(2, 'fluid_intake', 13, (net + 1000) / 2)];
    const output = fluid(3, 'fluid_output', 18, 1000);
    if (p === 'P1' && d === 0) points.push(output);
    else if (p === 'P2' && d === 27) points.push(...intake);
    else points.push(...intake, output);
  }
  for (const [p, d] of [
    ['P2', 15],
    ['P3', 16],
  ] as const) {
    alarmNo++;
    alarm(p, 'alarm_raised', T + d * DAY + 10 * 3_600_000, '5.3.2', { sourceDeviceId: '', secondsSinceRaised: 0 });
  }

  const rejections: Rejection[] = [];
  for (const device of ['AQ-1', 'AQ-7']) {
    for (let j = 0; j < 4; j++) {
      rejections.push({
        messageId: nextId++,
        deviceId: device,
        profileId: 'aquascale',
        siteId: 'site-e',
        roomId: null,
        trialId: TRIAL,
        participantId: device === 'AQ-1' ? 'P1' : 'P7',
        topic: `devices/${device}/measurements`,
        code: 'SCHEMA_VIOLATION',
        path: 'value',
        message: 'must be >= 0',
        payload: '{"value":-1}',
        receivedAt: T + DAY + j * 60_000,
      });
    }
  }
  return { points, rejections };
}

/** Through the store's own write path, in bulk (a few thousand points in a few batches). */
export async function seedStore(store: TelemetryStore): Promise<number> {
  const { points, rejections } = seedPoints();
  const batch: IngestBatch = {
    messages: [
      ...points.filter((p) => p.seq === 0).map((p) => ({ id: p.messageId, deviceId: p.deviceId, receivedAt: p.receivedAt })),
      ...rejections.map((r) => ({ id: r.messageId, deviceId: r.deviceId, receivedAt: r.receivedAt })),
    ],
    points,
    rejections,
  };
  await store.write(batch);
  return points.length;
}
