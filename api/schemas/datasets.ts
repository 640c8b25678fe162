import { z } from 'zod';
import { DATASET_FORMATS } from '../../datasets/formats.js';
import { Id, IsoTime, QueryInstant } from './common.js';
import { example } from './examples.js';

export const DatasetQuery = z
  .object({
    format: z.enum(DATASET_FORMATS).default('csv').describe('csv (RFC 4180, header row), ndjson (one JSON object per line) or parquet'),
    from: QueryInstant.optional().describe('Device time from (inclusive); clipped to the trial period'),
    to: QueryInstant.optional().describe('Device time to (exclusive); clipped to the trial period'),
    family: z.string().describe('Device family (GET /v1/catalogue)').optional(),
    name: z.string().min(1).max(64).optional().describe('Only this measurement or event type (see the codebook)'),
    deviceId: Id.optional(),
    kind: z.enum(['reading', 'event']).optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || q.from < q.to, { message: 'must be after from', path: ['to'] });

export const CodebookQuery = z.object({ format: z.enum(['json', 'csv']).default('json') });

export const ObservationPeriodsQuery = z.object({ format: z.enum(['json', 'csv']).default('json') });
export const ObservationPeriodsDto = z.object({
  trialId: Id,
  audience: z.literal('research'),
  generatedAt: IsoTime,
  items: z.array(
    z.object({
      pseudonym: z.string().describe("The participant's pseudonym in this trial's research datasets"),
      deviceId: Id,
      profileId: Id.nullable(),
      expectedIntervalS: z.number().nullable().describe("What the device's profile expects between records"),
      from: IsoTime,
      to: IsoTime,
    }),
  ),
});

const Example = {
  exportId: 'exp-3kF9pQ2xV7aLm1Rt',
  createdAt: '2025-04-01T10:00:00.000Z',
  trial: {
    id: 'fall-2025',
    name: 'Fall prevention with a 3D room sensor',
    siteId: 'levanger-room',
    protocolRef: 'REK 2025/12345',
    status: 'running',
    period: { from: '2025-03-01T00:00:00.000Z', to: '2025-09-01T00:00:00.000Z' },
    baseline: { from: '2025-03-01T00:00:00.000Z', to: '2025-03-15T00:00:00.000Z' },
  },
  audience: 'research',
  format: 'csv',
  mediaType: 'text/csv; charset=utf-8; header=present',
  filters: { from: '2025-03-01T00:00:00.000Z', to: '2025-09-01T00:00:00.000Z', family: null, name: null, deviceId: null, kind: null },
  consentRule: { scope: 'research', evaluatedAt: '2025-04-01T10:00:00.000Z', text: '…', participantsWithConsent: 1, deviceDataIncluded: false },
  pseudonyms: 'HMAC-SHA256(hub key, trial | audience | participant), first 80 bits, hex: …',
  profiles: [{ id: 'roomsense-3d', version: '1.0.0', vendor: 'RoomSense', model: 'RS-3D', family: 'fall-sensor' }],
  rows: { total: 1234, readings: 1200, events: 34, deviceData: 0 },
  data: { bytes: 183402, sha256: 'c0ffee…' },
  codebook: '/v1/trials/fall-2025/codebook',
};

export const ManifestDto = z
  .record(z.string(), z.unknown())
  .describe('What the export is: trial, audience, filters, consent rule applied, profile versions, row counts, SHA-256 of the bytes sent, export id')
  .meta(example(Example));

const CodebookEntry = z.record(z.string(), z.unknown());
export const CodebookDto = z
  .object({
    trialId: Id,
    audiences: z.array(z.string()).readonly(),
    columns: z.array(CodebookEntry).readonly().describe('Every column: name, type (as in Parquet), description, audiences'),
    profiles: z.array(CodebookEntry).readonly().describe('Device profiles whose data the trial can hold: id, version, vendor, model, family'),
    measurements: z.array(CodebookEntry).readonly().describe('Every measurement name: label, UCUM unit, LOINC code where one applies'),
    events: z.array(CodebookEntry).readonly().describe('Every event name with its meaning, VKP alert/dispense code and display, severity'),
    severities: z.array(CodebookEntry).readonly().describe('VKP severity levels'),
    attributes: z.array(CodebookEntry).readonly().describe("Every key of an event's attributes: meaning, events, profiles"),
    readAs: z.record(z.string(), z.unknown()).describe('The text columns (codes such as "1.10" are not numbers) and how to load them so in pandas and R'),
    codeSystems: z.record(z.string(), z.string()),
  })
  .meta(
    example({
      trialId: 'fall-2025',
      audiences: ['research'],
      columns: [{ name: 'pseudonym', type: 'VARCHAR', description: 'The participant, pseudonymised…', audiences: ['research'] }],
      profiles: [{ id: 'aquascale', version: '1.0.0', vendor: 'AquaScale', model: 'AquaScale fluid-balance station', family: 'fluid-balance' }],
      measurements: [{ name: 'body_weight', label: 'Body weight', unit: 'kg', loinc: '29463-7', profiles: ['aquascale'] }],
      events: [
        {
          name: 'fall',
          meaning: 'Fall detected (SNOMED CT 1912002)',
          alertCode: '4.1',
          alertDisplay: 'Fall',
          dispenseCode: null,
          dispenseDisplay: null,
          severity: 40,
          profiles: ['roomsense-3d'],
        },
      ],
      severities: [{ code: 40, display: 'Kritisk' }],
      codeSystems: { alert: 'http://ehelse.no/fhir/CodeSystem/vkp-alert-code-v090' },
    }),
  );
