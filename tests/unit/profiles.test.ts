import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it, expectTypeOf } from 'vitest';
import { loadProfiles, parseProfile } from '../../device-profiles/load.js';
import type { DecodeResult, TimeLimits } from '../../device-profiles/decode.js';
import type { HubEvent, Reading } from '../../kernel/telemetry.js';
import { HubError } from '../../kernel/errors.js';

const limits: TimeLimits = { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 };
const profiles = loadProfiles('device-profiles/profiles', limits);
const NOON = Date.parse('2026-11-24T12:00:00Z'); // after every sample, within 30 days
const noAttribution = { siteId: null, roomId: null, trialId: null, participantId: null };

function decode(profileId: string, deviceId: string, payload: string | object, receivedAt = NOON): DecodeResult {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  return profiles.get(profileId)!.decode({ messageId: 7n, deviceId, payload: Buffer.from(text), receivedAt, attribution: noAttribution });
}
const lines = (file: string) => readFileSync(`tests/fixtures/${file}`, 'utf8').trim().split('\n');
const points = (r: DecodeResult) => (r.ok ? r.points : expect.fail(`rejected: ${JSON.stringify(r.problem)}`));
const problem = (r: DecodeResult) => (r.ok ? expect.fail('expected a rejection') : r.problem);
const readings = (r: DecodeResult) => points(r).filter((p): p is Reading => p.kind === 'reading');
const events = (r: DecodeResult) => points(r).filter((p): p is HubEvent => p.kind === 'event');

describe('every vendor sample decodes through its YAML profile', () => {
  const cases: [string, string, string][] = [
    ['vendor-samples/roomsense-3d.ndjson', 'roomsense-3d', 'RS3D-00421'],
    ['vendor-samples/bedwatch-senml.ndjson', 'bedwatch-senml', 'BW-1182'],
    ['vendor-samples/dosebox.ndjson', 'dosebox', 'DB-0077'],
    ['vendor-samples/aquascale.ndjson', 'aquascale', ''],
    ['medimate-senml.ndjson', 'medimate-senml', 'MM-204'],
    ['vekta-senml.ndjson', 'vekta-senml', 'VK-77'],
  ];
  for (const [file, profileId, device] of cases) {
    it(`${file} → ${profileId}`, () => {
      for (const line of lines(file)) {
        const deviceId = device || (JSON.parse(line) as { serial: string }).serial;
        expect(points(decode(profileId, deviceId, line)).length).toBeGreaterThan(0);
      }
    });
  }
  it('ships at least two profiles per family, in different dialects', () => {
    const byFamily = new Map<string, Set<string>>();
    for (const d of profiles.decoders.values()) {
      byFamily.set(d.profile.family, (byFamily.get(d.profile.family) ?? new Set()).add(d.profile.format));
    }
    expect([...byFamily.keys()].sort()).toEqual(['fall-sensor', 'fluid-balance', 'medication-dispenser']);
    for (const formats of byFamily.values()) expect(formats.size).toBe(2);
  });
});

describe('normalisation', () => {
  it('a RoomSense fall is a critical event with VKP 4.1 and the device time', () => {
    const [e] = events(decode('roomsense-3d', 'RS3D-00421', lines('vendor-samples/roomsense-3d.ndjson')[0]!));
    expect(e).toMatchObject({ name: 'fall', alertCode: '4.1', severity: 40, deviceTime: 1795417202120, receivedAt: NOON });
    expect(e!.attributes).toEqual({ confidence: 0.94, zone: 'floor-bedside' });
  });
  it('a heartbeat becomes device-health readings in UCUM units', () => {
    const r = readings(decode('roomsense-3d', 'RS3D-00421', lines('vendor-samples/roomsense-3d.ndjson')[1]!));
    expect(r.map((x) => [x.name, x.value, x.unit])).toEqual([
      ['mains_power', 1, '1'],
      ['device_temperature', 22.4, 'Cel'],
      ['device_uptime', 86400, 's'],
    ]);
  });
  it('AquaScale grams and pounds become kilograms, litres become millilitres', () => {
    const [g, l, , , lb] = lines('vendor-samples/aquascale.ndjson').map((x) => readings(decode('aquascale', JSON.parse(x).serial, x))[0]!);
    expect([g!.name, g!.value, g!.unit]).toEqual(['body_weight', 72.45, 'kg']);
    expect([l!.name, l!.value, l!.unit]).toEqual(['fluid_intake', 250, 'mL']);
    expect(lb!.value).toBeCloseTo(161.2 * 0.45359237, 9);
  });
  it('SenML packs resolve base name, base time and relative time (RFC 8428 §4.6)', () => {
    const r = decode('bedwatch-senml', 'BW-1182', lines('vendor-samples/bedwatch-senml.ndjson')[2]!);
    const [exit, occupied] = points(r);
    expect(exit).toMatchObject({ kind: 'event', name: 'left_bed', alertCode: '4.2', deviceTime: 1795390013000 });
    expect(occupied).toMatchObject({ kind: 'reading', name: 'bed_occupied', value: 0, deviceTime: 1795390013400 });
  });
  it('DoseBox local time with offset becomes UTC; a taken dose carries the dispense code', () => {
    const [e] = events(decode('dosebox', 'DB-0077', lines('vendor-samples/dosebox.ndjson')[1]!));
    expect(e).toMatchObject({ name: 'dose_taken', dispenseCode: '1.1', alertCode: null, deviceTime: Date.parse('2026-11-23T07:06:41Z') });
  });
  it('a BATTERY status is a reading and no event; LOW_STOCK is both', () => {
    const battery = decode('dosebox', 'DB-0077', lines('vendor-samples/dosebox.ndjson')[7]!);
    expect(points(battery).map((p) => p.kind)).toEqual(['reading']);
    const low = decode('dosebox', 'DB-0077', lines('vendor-samples/dosebox.ndjson')[5]!);
    expect(points(low).map((p) => `${p.kind}:${p.name}`)).toEqual(['reading:doses_left', 'event:refill_soon']);
  });
  it('flags a device clock beyond the allowed skew but keeps the data', () => {
    const line = lines('vendor-samples/roomsense-3d.ndjson')[0]!;
    expect(points(decode('roomsense-3d', 'RS3D-00421', line, 1795417202120 + 1000))[0]!.clockSkewed).toBe(false);
    expect(points(decode('roomsense-3d', 'RS3D-00421', line, 1795417202120 + 600_000))[0]!.clockSkewed).toBe(true);
  });
  it('knows the publish topics of a device, and no topic of another device or profile', () => {
    const d = profiles.get('roomsense-3d')!;
    expect(d.publishesOn('RS3D-00421', 'devices/RS3D-00421/events')).toBe(true);
    expect(d.publishesOn('RS3D-00421', 'devices/RS3D-00422/events')).toBe(false);
    expect(d.publishesOn('RS3D-00421', 'devices/RS3D-00421/events/x')).toBe(false);
    expect(d.publishesOn('RS3D-00421', 'devices/RS3D-00421/senml')).toBe(false);
    expect(d.publishesOn('RS3D', 'devices/RS3D-00421/events')).toBe(false);
  });
  it('point types are what the store port expects', () => {
    expectTypeOf(readings).returns.toEqualTypeOf<Reading[]>();
    expectTypeOf<HubEvent['severity']>().toEqualTypeOf<0 | 10 | 20 | 30 | 40>();
  });
});

describe('each kind of bad payload becomes a rejection with its reason', () => {
  const fall = { sensor: 'RS3D-00421', time: NOON, event: { type: 'FALL_DETECTED', confidence: 0.9, zone: 'bed' } };
  const cases: [string, string, string, string | object, string, string][] = [
    ['not JSON', 'roomsense-3d', 'RS3D-00421', '{"sensor": ', 'PAYLOAD_NOT_JSON', ''],
    ['a wrong type', 'roomsense-3d', 'RS3D-00421', { ...fall, time: 'yesterday' }, 'SCHEMA_VIOLATION', 'time'],
    ['a value out of range', 'roomsense-3d', 'RS3D-00421', { ...fall, event: { ...fall.event, confidence: 3 } }, 'SCHEMA_VIOLATION', 'event.confidence'],
    ['an unknown field', 'dosebox', 'DB-0077', { id: 'DB-0077', ts: '2026-11-24T12:00:00Z', evt: 'JAM', extra: 1 }, 'SCHEMA_VIOLATION', ''],
    ['an unknown event', 'roomsense-3d', 'RS3D-00421', { ...fall, event: { type: 'DANCING' } }, 'EVENT_UNKNOWN', 'event.type'],
    [
      'an unknown unit',
      'aquascale',
      'AQ-3001',
      { serial: 'AQ-3001', measured_at: '2026-11-24T11:00:00Z', kind: 'weight', value: 70, unit: 'stone' },
      'UNIT_UNKNOWN',
      'unit',
    ],
    ['another device id in the payload', 'roomsense-3d', 'RS3D-00421', { ...fall, sensor: 'RS3D-99999' }, 'DEVICE_MISMATCH', 'sensor'],
    ['a time without offset', 'dosebox', 'DB-0077', { id: 'DB-0077', ts: '2026-11-24T12:00:00', evt: 'JAM' }, 'TIME_INVALID', 'ts'],
    ['a time far in the past', 'roomsense-3d', 'RS3D-00421', { ...fall, time: NOON - 40 * 86_400_000 }, 'TIME_OUT_OF_RANGE', 'time'],
    ['a time far in the future', 'roomsense-3d', 'RS3D-00421', { ...fall, time: NOON + 2 * 3_600_000 }, 'TIME_OUT_OF_RANGE', 'time'],
    [
      'a SenML record with two values',
      'bedwatch-senml',
      'BW-1182',
      [{ bn: 'urn:dev:ser:BW-1182:', bt: NOON / 1000, n: 'battery', v: 1, vs: 'x' }],
      'SENML_INVALID',
      '[0]',
    ],
    ['SenML that is not an array', 'bedwatch-senml', 'BW-1182', { n: 'battery', v: 3 }, 'SENML_INVALID', ''],
    [
      'a SenML base name of another device',
      'bedwatch-senml',
      'BW-1182',
      [{ bn: 'urn:dev:ser:BW-9:', bt: NOON / 1000, n: 'battery', u: '%EL', v: 50 }],
      'DEVICE_MISMATCH',
      '[0].n',
    ],
    [
      'a SenML record this profile does not know',
      'bedwatch-senml',
      'BW-1182',
      [{ bn: 'urn:dev:ser:BW-1182:', bt: NOON / 1000, n: 'heart', v: 60 }],
      'SCHEMA_VIOLATION',
      '[0].n',
    ],
    ['a heartbeat with nothing in it', 'roomsense-3d', 'RS3D-00421', { sensor: 'RS3D-00421', time: NOON }, 'NO_POINTS', ''],
  ];
  for (const [what, profileId, deviceId, payload, code, path] of cases) {
    it(what, () => {
      const p = problem(decode(profileId, deviceId, payload));
      expect(p.code).toBe(code);
      expect(p.path).toBe(path);
      expect(p.message.length).toBeGreaterThan(5);
    });
  }
});

describe('a bad profile stops the start, naming the file and the field', () => {
  const good = readFileSync('device-profiles/profiles/roomsense-3d/profile.yaml', 'utf8');
  const bad = (source: string) => {
    try {
      parseProfile(source, 'broken.yaml', limits);
    } catch (e) {
      expect(e).toBeInstanceOf(HubError);
      expect((e as HubError).code).toBe('PROFILE_INVALID');
      return (e as HubError).message;
    }
    return expect.fail('the profile was accepted');
  };
  it('an unknown VKP alert code', () =>
    expect(bad(good.replace('alert: "4.1"', 'alert: "4.99"'))).toMatch(/broken\.yaml: events\[0\]\.map\.FALL_DETECTED\.alert: not a VKP alert code/));
  it('an unknown measurement', () =>
    expect(bad(good.replace('measurement: mains_power', 'measurement: vibes'))).toMatch(/broken\.yaml: readings\[0\]\.measurement/));
  it('a missing family', () => expect(bad(good.replace('family: fall-sensor\n', ''))).toMatch(/broken\.yaml: family/));
  it('a topic without the device id', () => expect(bad(good.replace('devices/{deviceId}/events', 'devices/all/events'))).toMatch(/broken\.yaml: topics\[0\]/));
  it('a unit that cannot become the measurement unit', () =>
    expect(bad(good.replace('value: status.temp_c, unit: Cel', 'value: status.temp_c, unit: kg'))).toMatch(/broken\.yaml: readings\[1\]/));
  it('YAML that does not parse', () => expect(bad('id: [unclosed')).toMatch(/broken\.yaml: not valid YAML/));
});

const PUBLISHED_VKP = '../shared/standards/vkp-codes.json';
// The published list lives in the arena's workspace beside the repository (CI has it); a
// clone on its own has only the shipped copy, and the title says why this is not run there.
it.runIf(existsSync(PUBLISHED_VKP))(`the shipped VKP code list is the published one (${PUBLISHED_VKP}; not run where it is absent)`, () => {
  const ours = readFileSync('kernel/standards/vkp-codes.json', 'utf8');
  expect(JSON.parse(ours)).toEqual(JSON.parse(readFileSync(PUBLISHED_VKP, 'utf8')));
});
