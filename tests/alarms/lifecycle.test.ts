import { describe, expect, expectTypeOf, it } from 'vitest';
import { AlarmLedger } from '../../alarms/ledger.js';
import { acknowledge, close } from '../../alarms/lifecycle.js';
import { raise } from '../../alarms/rules/common.js';
import type { RaiseSignal } from '../../alarms/rules/types.js';
import { shippedCatalogue } from '../../device-profiles/catalogue.js';
import type { Alarm, AlarmState, LiveMessage } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';

const T0 = Date.parse('2026-11-23T10:00:00Z');
const nurse = { id: 'tok-1', label: 'Night nurse, ward 3' };
const catalogue = { event: (name: string) => shippedCatalogue().events.get(name) };
const place = { siteId: 'site-a', roomId: 'room-1', deviceId: 'RS3D-1', trialId: null, participantId: null };
const fall = (at: number, source: string | null, severity: 30 | 40 = 40): RaiseSignal =>
  raise(catalogue, { rule: 'fall', key: 'fall|r:room-1', at, place, family: 'fall-sensor', severity, source, detail: { zone: 'bed' } });

function ledger() {
  const published: LiveMessage[] = [];
  let n = 0;
  const l = new AlarmLedger({
    sql: {} as SqlClient, // never flushed here: these tests are about the state machine
    store: {} as TelemetryStore,
    log: createLogger('silent'),
    now: () => T0,
    newId: () => `alm-${++n}`,
    publish: (m) => published.push(m),
    deviceState: () => undefined,
    retentionMs: 86_400_000,
  });
  return { l, published, alarms: () => published.flatMap((m) => (m.kind === 'alarm' ? [m.alarm] : [])) };
}

describe('lifecycle: raised → acknowledged → resolved or false alarm', () => {
  const { l } = ledger();
  l.apply(fall(T0, '1:0'));
  const raised = l.open()[0]!;

  it('acknowledging records who, when and the comment', () => {
    const acked = acknowledge(raised, nurse, 'on my way', T0 + 5000);
    expect(acked).toMatchObject({ state: 'acknowledged', acknowledgedBy: nurse, acknowledgedAt: T0 + 5000, ackComment: 'on my way', version: 2 });
    expect(close(acked, 'resolved', nurse, 'helped up, no injury', T0 + 60_000)).toMatchObject({
      state: 'resolved',
      closedBy: nurse,
      closeComment: 'helped up, no injury',
      acknowledgedBy: nurse,
    });
  });
  it('may be resolved or marked false straight from raised', () => {
    expect(close(raised, 'false_alarm', nurse, 'a dropped blanket', T0 + 1000).state).toBe('false_alarm');
  });
  it('refuses to acknowledge twice or to act on a closed alarm (CONFLICT, naming who was first)', () => {
    const acked = acknowledge(raised, nurse, null, T0 + 1);
    const conflict = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        expect(e).toBeInstanceOf(HubError);
        return e as HubError;
      }
      return expect.fail('no conflict');
    };
    expect(conflict(() => acknowledge(acked, nurse, null, T0 + 2))).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringContaining('Night nurse, ward 3'),
    });
    const closed = close(acked, 'resolved', nurse, null, T0 + 3);
    expect(conflict(() => close(closed, 'false_alarm', nurse, null, T0 + 4)).code).toBe('CONFLICT');
    expect(conflict(() => acknowledge(closed, nurse, null, T0 + 4)).code).toBe('CONFLICT');
  });
  it('types: the state is one of four, times are epoch ms', () => {
    expectTypeOf<Alarm['state']>().toEqualTypeOf<AlarmState>();
    expectTypeOf<AlarmState>().toEqualTypeOf<'raised' | 'acknowledged' | 'resolved' | 'false_alarm'>();
    expectTypeOf<Alarm['raisedAt']>().toEqualTypeOf<number>();
  });
});

describe('repeated triggers update the open alarm instead of spamming', () => {
  it('counts and dates the repeats on one alarm, at the higher severity, and broadcasts each version', () => {
    const { l, alarms } = ledger();
    l.apply(fall(T0, '1:0', 30));
    l.apply(fall(T0 + 1000, '2:0', 40));
    l.apply(fall(T0 + 2000, '3:0', 30));
    expect(l.open()).toHaveLength(1);
    expect(l.open()[0]).toMatchObject({ id: 'alm-1', triggerCount: 3, severity: 40, raisedAt: T0, lastTriggeredAt: T0 + 2000, version: 3 });
    expect(alarms().map((a) => [a.id, a.version])).toEqual([
      ['alm-1', 1],
      ['alm-1', 2],
      ['alm-1', 3],
    ]);
  });
  it('an acknowledged alarm stays acknowledged when it triggers again', () => {
    const { l } = ledger();
    l.apply(fall(T0, '1:0'));
    l.commit(acknowledge(l.open()[0]!, nurse, null, T0 + 10), 'acknowledged');
    l.apply(fall(T0 + 20, '2:0'));
    expect(l.open()[0]).toMatchObject({ state: 'acknowledged', triggerCount: 2 });
  });
  it('a redelivered message (same id and seq) changes nothing, even after the alarm was closed', () => {
    const { l } = ledger();
    l.apply(fall(T0, '1:0'));
    l.apply(fall(T0 + 5, '1:0'));
    expect(l.open()[0]!.triggerCount).toBe(1);
    l.commit(close(l.open()[0]!, 'resolved', nurse, null, T0 + 10), 'resolved');
    l.apply(fall(T0 + 20, '1:0'));
    expect(l.open()).toEqual([]);
    l.apply(fall(T0 + 30, '9:0'));
    expect(l.open()[0]).toMatchObject({ id: 'alm-2', triggerCount: 1 });
  });
  it('a once-key (one missing weight a day) never reopens after it was closed', () => {
    const { l } = ledger();
    const missing = (at: number) =>
      raise(catalogue, { rule: 'missing_measurement', key: 'missing_measurement|p:d|body_weight|2026-11-23', at, place, family: 'fluid-balance', once: true });
    l.apply(missing(T0));
    l.apply(missing(T0 + 5000));
    expect(l.open()[0]!.triggerCount).toBe(2);
    l.commit(close(l.open()[0]!, 'resolved', nurse, null, T0 + 10_000), 'resolved');
    l.apply(missing(T0 + 15_000));
    expect(l.open()).toEqual([]);
  });
  it('a clear signal resolves the open alarm as the hub, with the reason', () => {
    const { l } = ledger();
    l.apply(raise(catalogue, { rule: 'device_offline', key: 'device_offline|d:X', at: T0, place, family: 'fall-sensor' }));
    l.apply({ type: 'clear', key: 'device_offline|d:X', at: T0 + 1000, reason: 'the device reported again' });
    l.apply({ type: 'clear', key: 'device_offline|d:X', at: T0 + 2000, reason: 'again' });
    expect(l.get('alm-1')).toMatchObject({ state: 'resolved', closedBy: { id: 'hub' }, closeComment: 'the device reported again', closedAt: T0 + 1000 });
  });
});
