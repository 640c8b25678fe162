import { describe, expect, it } from 'vitest';
import { evaluateRun } from '../../conformance/evaluate.js';
import { emptyObservations, observeMessage, observePublish } from '../../conformance/observations.js';
import { loadCatalogue } from '../../device-profiles/catalogue.js';
import { compileProfileSource } from '../../device-profiles/load.js';
import type { DeviceConnect } from '../../kernel/device-traffic.js';
import type { Reading, Rejection } from '../../kernel/telemetry.js';
import { BEACON } from './beacon.js';

// Each check's rule on observations made up to sit on either side of it.

const compiled = compileProfileSource(BEACON, loadCatalogue([]), { skewMs: 120_000, maxPastMs: 86_400_000, maxFutureMs: 3_600_000 });
if (!compiled.ok) throw new Error('beacon profile does not load');
const profile = compiled.decoder.profile;
const T = Date.parse('2026-12-07T10:00:00Z');
const session = (at: number, over: Partial<DeviceConnect> = {}): DeviceConnect => ({
  deviceId: 'B-1',
  clientId: 'B-1',
  at,
  keepaliveS: 30,
  clean: true,
  will: { topic: 'devices/B-1/data', qos: 1, retain: false },
  ...over,
});
const reading = (at: number, name = 'body_weight'): Reading => ({
  kind: 'reading',
  messageId: 1n,
  seq: 0,
  deviceId: 'B-1',
  profileId: 'beacon',
  family: 'fluid-balance',
  siteId: null,
  roomId: null,
  trialId: null,
  participantId: null,
  name,
  value: 70,
  unit: 'kg',
  deviceTime: at,
  receivedAt: at,
  clockSkewed: false,
});
const facts = { deviceId: 'B-1', profile, hubVersion: '0.1.0', from: T, to: T + 10_000, skewMs: 120_000 };
const outcomes = (r: ReturnType<typeof evaluateRun>) => Object.fromEntries(r.checks.map((c) => [c.id, c.outcome]));

describe('evaluateRun', () => {
  it('a run with no traffic fails "messages" and judges nothing it did not see', () => {
    const r = evaluateRun(emptyObservations(undefined), facts);
    expect(outcomes(r)).toMatchObject({
      messages: 'fail',
      rejections: 'pass',
      'reporting-interval': 'fail',
      'clock-offset': 'not-applicable',
      qos: 'not-applicable',
      keepalive: 'not-applicable',
      'last-will': 'not-applicable',
      offline: 'fail',
      battery: 'fail',
    });
  });

  it('QoS 0, no keepalive, a lost connection and a message sent twice without a reconnect each fail their check', () => {
    const o = emptyObservations(session(T - 60_000, { keepaliveS: 0 }));
    for (let i = 0; i < 10; i++) {
      observePublish(o, { deviceId: 'B-1', topic: 'devices/B-1/data', qos: i === 0 ? 0 : 1, dup: false, retain: false, bytes: 20, at: T + i * 1000 });
      observeMessage(o, { id: BigInt(i), receivedAt: T + i * 1000, points: [reading(T + i * 1000), reading(T + i * 1000, 'battery_level')], rejections: [] });
    }
    observeMessage(o, { id: 3n, receivedAt: T + 9_500, points: [], rejections: [] });
    o.disconnects.push({ deviceId: 'B-1', at: T + 9_600, connectedAt: T - 60_000, cause: 'keepalive' });
    const r = evaluateRun(o, facts);
    expect(outcomes(r)).toMatchObject({
      qos: 'fail',
      keepalive: 'fail',
      resends: 'fail',
      offline: 'fail',
      'last-will': 'pass',
      battery: 'pass',
      'reporting-interval': 'pass',
    });
    expect(r.checks.find((c) => c.id === 'offline')!.evidence.episodes).toEqual([expect.objectContaining({ why: 'disconnected (keepalive)' })]);
  });

  it('a message sent again after a reconnect is a resend, not a fault', () => {
    const o = emptyObservations(session(T - 1000));
    for (let i = 0; i < 10; i++) observeMessage(o, { id: BigInt(i), receivedAt: T + i * 1000, points: [reading(T + i * 1000)], rejections: [] });
    o.disconnects.push({ deviceId: 'B-1', at: T + 5_100, connectedAt: T - 1000, cause: 'closed' });
    o.connects.push(session(T + 5_200));
    observeMessage(o, { id: 5n, receivedAt: T + 5_300, points: [reading(T + 5_000)], rejections: [] });
    const r = evaluateRun(o, facts);
    expect(outcomes(r).resends).toBe('pass');
    expect(r.checks.find((c) => c.id === 'resends')!.evidence).toMatchObject({ duplicates: 1, afterReconnect: 1 });
  });

  it("keeps the raw payload of a rejection only when nobody was assigned to the device: a report holds no participant's data", () => {
    const rejection = (participantId: string | null): Rejection => ({
      messageId: 1n,
      deviceId: 'B-1',
      profileId: 'beacon',
      siteId: null,
      roomId: null,
      trialId: null,
      participantId,
      topic: 'devices/B-1/data',
      code: 'SCHEMA_VIOLATION',
      path: 'w',
      message: 'expected number',
      payload: '{"w":"heavy"}',
      receivedAt: T,
    });
    const o = emptyObservations(undefined);
    observeMessage(o, { id: 1n, receivedAt: T, points: [], rejections: [rejection(null)] });
    observeMessage(o, { id: 2n, receivedAt: T + 1, points: [], rejections: [rejection('p-1')] });
    const examples = (evaluateRun(o, facts).checks.find((c) => c.id === 'rejections')!.evidence.byCode as any).SCHEMA_VIOLATION.examples;
    expect(examples.map((e: any) => e.payload)).toEqual(['{"w":"heavy"}', null]);
    expect(JSON.stringify(evaluateRun(o, facts))).not.toContain('p-1');
  });

  it('a run shorter than two expected intervals does not judge the interval', () => {
    const r = evaluateRun(emptyObservations(undefined), { ...facts, to: T + 1500 });
    expect(outcomes(r)['reporting-interval']).toBe('not-applicable');
  });
});
