import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCatalogue, parseCatalogue, shippedCatalogue, SHIPPED_CATALOGUE_DIR } from '../../device-profiles/catalogue.js';
import { compileProfileSource } from '../../device-profiles/load.js';
import { ruleEventProblems } from '../../alarms/rules/codes.js';
import { startApi, type ApiFixture } from '../api/fixture.js';
import { throwsWith } from '../helpers/errors.js';

const limits = { skewMs: 120_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 3_600_000 };
const arenaFile = `
measurements:
  step_count:
    unit: "{steps}"
    type: integer
    range: [0, 100000]
    loinc: 55423-8
    label: { en: Step count, nb: Antall skritt }
events:
  bag_full:
    label: { en: Urine bag full, nb: Urinpose full }
    severity: 20
families:
  activity-tracker:
    label: { en: Activity tracker, nb: Aktivitetsmåler }
`;
const arenaDir = (text: string): string => {
  const dir = mkdtempSync(join(tmpdir(), 'arena-catalogue-'));
  writeFileSync(join(dir, 'ward.yaml'), text);
  return dir;
};

describe('the catalogue is data', () => {
  it('ships the measurements, events and families the shipped profiles use, with units, codes and both languages', () => {
    const c = shippedCatalogue();
    expect(c.measurements.get('body_weight')).toMatchObject({ unit: 'kg', loinc: '29463-7', label: { en: 'Body weight', nb: 'Kroppsvekt' } });
    expect(c.events.get('fall')).toMatchObject({ alert: '4.1', snomed: '1912002', severity: 40 });
    expect([...c.families.keys()].sort()).toEqual(['fall-sensor', 'fluid-balance', 'medication-dispenser']);
  });

  it("an arena's own folder adds a measurement, an event and a family without code", () => {
    const c = loadCatalogue([arenaDir(arenaFile)]);
    expect(c.measurements.get('step_count')).toMatchObject({ unit: '{steps}', type: 'integer', range: [0, 100000] });
    expect(c.events.get('bag_full')).toMatchObject({ alert: null, severity: 20 });
    expect(c.families.has('activity-tracker')).toBe(true);
    expect(c.measurements.has('body_weight')).toBe(true);
  });

  it('refuses a name defined twice, naming both files', () => {
    const dir = arenaDir('events:\n  fall:\n    label: { en: Fall, nb: Fall }\n    severity: 40\n');
    throwsWith(
      () => loadCatalogue([dir]),
      'CONFIG_INVALID',
      new RegExp(`ward\\.yaml: events\\.fall: already defined in ${join(SHIPPED_CATALOGUE_DIR, 'events.yaml').replaceAll('/', '\\/')}`),
    );
  });

  it('reports every bad entry at once, each with its file and path', () => {
    const r = parseCatalogue([
      {
        name: 'bad.yaml',
        text: 'measurements:\n  x_rate:\n    unit: stone\n    label: { en: X, nb: X }\n  y:\n    unit: kg\n    range: [5, 1]\n    label: { en: Y }\nevents:\n  z:\n    label: { en: Z, nb: Z }\n    alert: "9.99"\n    severity: 15\n',
      },
    ]);
    expect(r.ok).toBe(false);
    const issues = r.ok ? [] : r.issues.map((i) => `${i.file}: ${i.path}`);
    expect(issues).toEqual(
      expect.arrayContaining([
        'bad.yaml: measurements.x_rate.unit',
        'bad.yaml: measurements.y.label.nb',
        'bad.yaml: events.z.alert',
        'bad.yaml: events.z.severity',
      ]),
    );
  });

  it('says which events open alarms: by default those with an alert code; alarm: false keeps a code as information', () => {
    const c = shippedCatalogue();
    expect(c.events.get('fall')?.alarm).toBe(true);
    expect(c.events.get('entered_room')).toMatchObject({ alert: '4.5', alarm: false });
    expect(c.events.get('sensor_blocked')).toMatchObject({ alert: null, alarm: false });
    const arena = loadCatalogue([
      arenaDir(
        arenaFile.replace(
          'events:\n',
          'events:\n  bag_burst:\n    label: { en: Urine bag burst, nb: Urinpose sprukket }\n    alert: "1.13"\n    severity: 30\n',
        ),
      ),
    ]);
    expect(arena.events.get('bag_burst')).toMatchObject({ alert: '1.13', severity: 30, alarm: true });
    expect(arena.events.get('bag_full')?.alarm).toBe(false);
  });

  it('refuses an alarm without an alert code, or at severity 0 ("not reported")', () => {
    const r = parseCatalogue([
      {
        name: 'alarms.yaml',
        text: 'events:\n  a:\n    label: { en: A, nb: A }\n    severity: 30\n    alarm: true\n  b:\n    label: { en: B, nb: B }\n    alert: "4.1"\n    severity: 0\n',
      },
    ]);
    expect(r.ok ? [] : r.issues.map((i) => `${i.file}: ${i.path}`)).toEqual(['alarms.yaml: events.a.alarm', 'alarms.yaml: events.b.alarm']);
  });

  it("the hub's own alarm rules find their events, with codes, in the catalogue (checked when the alarm engine opens)", () => {
    expect(ruleEventProblems(shippedCatalogue())).toEqual([]);
    const events = new Map(shippedCatalogue().events);
    events.delete('measurement_missing');
    expect(ruleEventProblems({ ...shippedCatalogue(), events })).toEqual(['alarm rule missing_measurement: the catalogue has no event "measurement_missing"']);
  });

  it('a profile may use what an arena file adds, and only with a catalogue that has it', () => {
    const profile = readFileSync('device-profiles/profiles/vekta-senml/profile.yaml', 'utf8')
      .replace('family: fluid-balance', 'family: activity-tracker')
      .replace('measurement: battery_level', 'measurement: step_count')
      .replace('units: { "%EL": "%" }', 'units: { steps: "{steps}" }');
    expect(compileProfileSource(profile, loadCatalogue([arenaDir(arenaFile)]), limits).ok).toBe(true);
    const without = compileProfileSource(profile, shippedCatalogue(), limits);
    expect(without.ok ? [] : without.errors.map((e) => e.path)).toEqual(['family', 'readings[2].measurement']);
  });
});

describe('GET /v1/catalogue', () => {
  let api: ApiFixture;
  beforeAll(async () => {
    api = await startApi();
  });
  afterAll(() => api.dispose());

  it('serves the catalogue to every role that reads profiles, and nobody else', async () => {
    for (const token of Object.values(api.tokens)) {
      const res = await api.call({ method: 'GET', url: '/v1/catalogue', token });
      expect(res.statusCode).toBe(200);
      const body = res.json() as {
        measurements: { name: string; unit: string; label: { nb: string } }[];
        events: { name: string }[];
        families: { name: string }[];
        zones: { name: string; label: { en: string; nb: string } }[];
      };
      expect(body.measurements.find((m) => m.name === 'fluid_intake')).toMatchObject({ unit: 'mL', label: { nb: 'Væskeinntak' } });
      expect(body.events.map((e) => e.name)).toContain('no_contact');
      expect(body.families.map((f) => f.name)).toContain('fall-sensor');
      expect(body.zones.find((z) => z.name === 'bathroom')).toEqual({ name: 'bathroom', label: { en: 'Bathroom', nb: 'Bad' } });
    }
    expect((await api.call({ method: 'GET', url: '/v1/catalogue', token: null })).statusCode).toBe(401);
  });
});
