import { describe, expect, it } from 'vitest';
import { shippedCatalogue } from '../../device-profiles/catalogue.js';
import type { DecodeResult } from '../../device-profiles/decode.js';
import { compileProfileSource } from '../../device-profiles/load.js';
import type { HubEvent, Reading } from '../../kernel/telemetry.js';
import { LIMITS } from './samples.js';

const NOON = Date.parse('2026-11-24T12:00:00Z');
const S = NOON / 1000;
const head = (extra = '') => `id: probe
version: 1.0.0
family: fluid-balance
vendor: Probe
model: Probe
topics: ["devices/{deviceId}/a", "devices/{deviceId}/b"]
format: json
expectedIntervalS: 60
${extra}`;

function compile(yaml: string) {
  const r = compileProfileSource(yaml, shippedCatalogue(), LIMITS);
  if (!r.ok) throw new Error(r.errors.map((e) => `${e.path}: ${e.message}`).join('\n'));
  return r.decoder;
}
function run(yaml: string, payload: unknown, topic = 'devices/D-1/a'): DecodeResult {
  return compile(yaml).decode({
    messageId: 1n,
    deviceId: 'D-1',
    topic,
    payload: Buffer.from(JSON.stringify(payload)),
    receivedAt: NOON,
    attribution: { siteId: null, roomId: null, trialId: null, participantId: null },
  });
}
const readings = (r: DecodeResult) => r.points.filter((p): p is Reading => p.kind === 'reading');
const problems = (r: DecodeResult) => r.problems.map((p) => `${p.code} ${p.path}`);

describe('records: one message, many records', () => {
  const nested = head(`time: { path: dt, format: relative_s, base: { path: $.t0, format: epoch_s } }
payload: { type: object, required: [t0, groups] }
records: { path: "groups[*].samples[*]" }
ignore: ["$.groups[*].bed"]
readings:
  - { measurement: fluid_intake, value: ml, unit: mL }
`);
  it('nested arrays, each record with its own time relative to a message-level base time', () => {
    const r = run(nested, {
      t0: S - 60,
      groups: [
        {
          bed: 1,
          samples: [
            { dt: 0, ml: 100 },
            { dt: 30, ml: 150 },
          ],
        },
        { bed: 2, samples: [{ dt: 45, ml: 200 }] },
      ],
    });
    expect(r.ok).toBe(true);
    expect(readings(r).map((p) => [p.value, p.deviceTime, p.seq])).toEqual([
      [100, NOON - 60_000, 0],
      [150, NOON - 30_000, 1],
      [200, NOON - 15_000, 2],
    ]);
  });
  it('a bad record is rejected alone, at its own path; nothing is silently dropped', () => {
    const r = run(nested, { t0: S, groups: [{ samples: [{ dt: 0, ml: 100 }, { dt: 'x', ml: 1 }, { dt: 1 }] }], extra: true });
    expect(readings(r).map((p) => p.value)).toEqual([100]);
    expect(problems(r)).toEqual(['FIELD_UNMAPPED extra', 'TIME_INVALID groups[0].samples[1].dt', 'VALUE_MISSING groups[0].samples[2].ml']);
  });
  it('an empty batch is NO_POINTS at the array', () => {
    expect(problems(run(nested, { t0: S, groups: [] }))).toEqual(['NO_POINTS groups']);
  });
});

describe('time formats', () => {
  const at = (format: string, value: unknown, zone = '') =>
    run(head(`time: { path: t, format: ${format}${zone} }\npayload: { type: object }\nreadings: [{ measurement: fluid_intake, value: v, unit: mL }]\n`), {
      t: value,
      v: 1,
    });
  it('epoch s, ms and µs; ISO 8601 with an offset; local ISO 8601 in a declared zone across DST', () => {
    expect(at('epoch_s', S).points[0]!.deviceTime).toBe(NOON);
    expect(at('epoch_ms', NOON).points[0]!.deviceTime).toBe(NOON);
    expect(at('epoch_us', NOON * 1000).points[0]!.deviceTime).toBe(NOON);
    expect(at('iso8601', '2026-11-24T13:00:00+01:00').points[0]!.deviceTime).toBe(NOON);
    expect(at('iso8601_local', '2026-11-24T13:00:00', ', zone: Europe/Oslo').points[0]!.deviceTime).toBe(NOON);
    const summer = Date.parse('2026-07-01T10:00:00Z');
    const r = run(
      head(
        'time: { path: t, format: iso8601_local, zone: Europe/Oslo }\npayload: { type: object }\nreadings: [{ measurement: fluid_intake, value: v, unit: mL }]\n',
      ),
      { t: '2026-07-01T12:00:00', v: 1 },
    );
    expect(r.problems.map((p) => p.code)).toEqual(['TIME_OUT_OF_RANGE']);
    expect(summer).toBeLessThan(NOON);
    expect(problems(at('iso8601', '2026-11-24T12:00:00'))).toEqual(['TIME_INVALID t']);
  });
});

describe('units, scale and offset', () => {
  it('any UCUM unit commensurable with the catalogue unit is converted; scale and offset apply first', () => {
    const yaml = head(`time: { path: t, format: epoch_s }
payload: { type: object }
readings:
  - { measurement: device_temperature, value: raw, unit: "[degF]", scale: 0.1, offset: 0 }
  - { measurement: body_weight, value: w, unit: "[oz_av]", absent: ignore }
`);
    const r = readings(run(yaml, { t: S, raw: 986 }));
    expect(r[0]!.unit).toBe('Cel');
    expect(r[0]!.value).toBeCloseTo(37, 9);
    expect(readings(run(yaml, { t: S, raw: 986, w: 16 }))[1]!.value).toBeCloseTo(0.45359237, 9);
  });
  it('refuses at load an incommensurable or invalid unit naming both units, with every error at once', () => {
    const r = compileProfileSource(
      head(`time: { path: t, format: epoch_s }
payload: { type: object }
readings:
  - { measurement: body_weight, value: w, unit: mL }
  - { measurement: fluid_intake, value: v, unitPath: u, units: { st: stone } }
  - { measurement: step_count, value: s, unit: "1" }
`),
      shippedCatalogue(),
      LIMITS,
    );
    expect(r.ok).toBe(false);
    const errors = r.ok ? [] : r.errors;
    expect(errors.map((e) => e.path)).toEqual(['readings[0].unit', 'readings[1].units.st', 'readings[2].measurement']);
    expect(errors[0]!.message).toMatch(/mL cannot be converted to kg.*body_weight is stored in kg/);
  });
  it("reports the language's faults and the catalogue's together, each with its path", () => {
    const r = compileProfileSource(
      head(`time: { path: t, format: epoch_q }
payload: { type: object }
readings:
  - { measurement: body_weight, value: w, unit: mL, scale: ten }
  - { measurement: heart_beat, value: h, unit: /min }
events:
  - from: e
    map: { X: { event: tumble, alert: "4.99" }, Y: { event: fall, severity: 41 } }
`),
      shippedCatalogue(),
      LIMITS,
    );
    expect(r.ok ? [] : r.errors.map((e) => e.path)).toEqual([
      'time.format',
      'readings[0].scale',
      'events[0].map.Y.severity',
      'readings[0].unit',
      'readings[1].measurement',
      'events[0].map.X.event',
      'events[0].map.X.alert',
    ]);
  });
  it('a value outside the catalogue range is rejected with its path, the record’s other points kept', () => {
    const r = run(
      head(
        'time: { path: t, format: epoch_s }\npayload: { type: object }\nreadings:\n  - { measurement: battery_level, value: b, unit: "%" }\n  - { measurement: fluid_intake, value: v, unit: mL }\n',
      ),
      { t: S, b: 140, v: 5 },
    );
    expect(problems(r)).toEqual(['VALUE_OUT_OF_RANGE b']);
    expect(readings(r).map((p) => p.name)).toEqual(['fluid_intake']);
  });
  it('a value that does not fit the catalogue type (integer, boolean) is rejected with VALUE_INVALID and its path, never rounded away', () => {
    const yaml = head(`time: { path: t, format: epoch_s }
payload: { type: object }
readings:
  - { measurement: doses_left, value: d, unit: "{dose}", absent: ignore }
  - { measurement: bed_occupied, value: o, unit: "1", absent: ignore }
  - { measurement: device_uptime, value: ms, unit: ms, absent: ignore }
  - { measurement: fluid_intake, value: v, unit: mL }
`);
    const bad = run(yaml, { t: S, d: 3.5, o: 2, ms: 1500, v: 5 });
    expect(bad.problems.map((p) => p.code)).toEqual(['VALUE_INVALID', 'VALUE_INVALID', 'VALUE_INVALID']);
    expect(problems(bad)).toEqual(['VALUE_INVALID d', 'VALUE_INVALID o', 'VALUE_INVALID ms']);
    expect(bad.problems[0]!.message).toMatch(/3\.5 is not a whole number: doses_left is an integer/);
    expect(readings(bad).map((p) => p.name)).toEqual(['fluid_intake']);
    const good = run(yaml, { t: S, d: 4, o: true, ms: 15_000, v: 5 });
    expect(good.problems).toEqual([]);
    expect(readings(good).map((p) => [p.name, p.value])).toEqual([
      ['doses_left', 4],
      ['bed_occupied', 1],
      ['device_uptime', 15],
      ['fluid_intake', 5],
    ]);
  });
});

describe('several message shapes', () => {
  const yaml = head(`shapes:
  - name: on-b
    topic: "devices/{deviceId}/b"
    time: { path: t, format: epoch_s }
    payload: { type: object }
    readings: [{ measurement: fluid_output, value: v, unit: L }]
  - name: intake
    when: { kind: [in, intake] }
    time: { path: t, format: epoch_ms }
    payload: { type: object, required: [kind] }
    readings: [{ measurement: fluid_intake, value: v, unit: mL }]
  - name: status
    when: { kind: status }
    time: { path: t, format: epoch_ms }
    payload: { type: object }
    events:
      - from: s
        map: { lost: { event: mains_lost } }
`);
  it('chosen by topic, then by a discriminator, each with its own time format and mappings', () => {
    expect(readings(run(yaml, { t: S, v: 0.5 }, 'devices/D-1/b'))[0]).toMatchObject({ name: 'fluid_output', value: 500, deviceTime: NOON });
    expect(readings(run(yaml, { kind: 'in', t: NOON, v: 20 }))[0]).toMatchObject({ name: 'fluid_intake', value: 20 });
    const e = run(yaml, { kind: 'status', t: NOON, s: 'lost' }).points[0] as HubEvent;
    expect([e.name, e.alertCode, e.severity]).toEqual(['mains_lost', '1.19', 20]);
    expect(problems(run(yaml, { kind: 'other', t: NOON }))).toEqual(['SHAPE_UNKNOWN ']);
  });
});

describe('unmapped fields', () => {
  const yaml = (choice: string) =>
    head(`unmapped: ${choice}\ntime: { path: t, format: epoch_s }\npayload: { type: object }\nreadings: [{ measurement: fluid_intake, value: v, unit: mL }]\n`);
  it('are reported with their paths, or kept on the points’ attributes', () => {
    const payload = { t: S, v: 1, cup: 'blue', meta: { n: 2, tags: ['a'] } };
    expect(problems(run(yaml('report'), payload))).toEqual(['FIELD_UNMAPPED cup', 'FIELD_UNMAPPED meta']);
    expect(readings(run(yaml('report'), payload)).length).toBe(1);
    expect(readings(run(yaml('keep'), payload))[0]!.attributes).toEqual({ cup: 'blue', meta: '{"n":2,"tags":["a"]}' });
  });
  it('a message with nothing mapped is rejected field by field: the missing value and every unmapped field', () => {
    expect(problems(run(yaml('report'), { t: S, w: 3 }))).toEqual(['FIELD_UNMAPPED w', 'VALUE_MISSING v']);
  });
});

describe('the one path notation', () => {
  it('schema errors and time errors name the same field the same way', () => {
    const yaml = head(`time: { path: ts, format: epoch_s }
payload: { type: object }
records:
  path: "batch[*]"
  schema: { type: object, properties: { out_ml: { type: number } } }
readings: [{ measurement: fluid_output, value: out_ml, unit: mL }]
`);
    expect(
      problems(
        run(yaml, {
          batch: [
            { ts: S, out_ml: 'x' },
            { ts: 'x', out_ml: 1 },
          ],
        }),
      ),
    ).toEqual(['SCHEMA_VIOLATION batch[0].out_ml', 'TIME_INVALID batch[1].ts']);
  });
});
