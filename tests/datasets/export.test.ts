import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWorld, DAY, T0, type World } from '../consent/world.js';
import { parseCsv, parseNdjson, parseParquet } from '../helpers/datasets.js';

let w: World;
beforeAll(async () => {
  w = await buildWorld();
});
afterAll(async () => w?.dispose());

const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

describe('an export', () => {
  it('comes with headers naming its id, rows and SHA-256, and a manifest whose hash is of exactly the bytes sent', async () => {
    for (const format of ['csv', 'ndjson', 'parquet']) {
      const res = await w.call('researcherA', `/v1/trials/TA/dataset?format=${format}`);
      expect(res.statusCode).toBe(200);
      const id = String(res.headers['x-export-id']);
      expect(id).toMatch(/^exp-/);
      expect(res.headers['x-export-sha256']).toBe(sha256(res.rawPayload));
      expect(res.headers['repr-digest']).toBe(`sha-256=:${createHash('sha256').update(res.rawPayload).digest('base64')}:`);
      expect(res.headers['content-disposition']).toContain(`TA-${id}.${format}`);
      expect(res.headers.link).toBe(`</v1/exports/${id}/manifest>; rel="describedby"`);

      const manifest = (await w.call('researcherA', `/v1/exports/${id}/manifest`)).json();
      expect(manifest).toMatchObject({
        exportId: id,
        audience: 'research',
        format,
        trial: { id: 'TA', protocolRef: 'REK A', period: { from: new Date(T0 - DAY).toISOString() } },
        rows: { total: 4, readings: 2, events: 2, deviceData: 0 },
        data: { sha256: sha256(res.rawPayload), bytes: res.rawPayload.length },
        // granted, research, and late (whose consent came after its only measurement).
        consentRule: { scope: 'research', deviceDataIncluded: false, participantsWithConsent: 3 },
        codebook: '/v1/trials/TA/codebook',
      });
      expect(manifest.profiles).toEqual([
        { id: 'aquascale', version: expect.stringMatching(/^\d+\.\d+\.\d+$/), vendor: 'AquaScale', model: expect.any(String), family: 'fluid-balance' },
        {
          id: 'bedwatch-senml',
          version: expect.stringMatching(/^\d+\.\d+\.\d+$/),
          vendor: expect.any(String),
          model: expect.any(String),
          family: 'fall-sensor',
        },
      ]);
    }
  });

  it('has the same columns, in the same order, in CSV, NDJSON, Parquet and the codebook', async () => {
    const codebook = (await w.call('researcherA', '/v1/trials/TA/codebook')).json();
    const names = codebook.columns.map((c: { name: string }) => c.name);
    expect(names.slice(0, 3)).toEqual(['pseudonym', 'phase', 'room_id']);
    const csv = (await w.call('researcherA', '/v1/trials/TA/dataset?format=csv')).body;
    expect(csv.split('\r\n')[0]).toBe(names.join(','));
    expect(Object.keys(parseNdjson((await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson')).body)[0]!)).toEqual(names);
    const parquet = await parseParquet((await w.call('researcherA', '/v1/trials/TA/dataset?format=parquet')).rawPayload);
    expect(Object.keys(parquet.types)).toEqual(names);
    expect(parquet.types).toMatchObject({ device_time: 'TIMESTAMP WITH TIME ZONE', value: 'DOUBLE', severity: 'INTEGER', clock_skewed: 'BOOLEAN' });
    // The same rows in every format.
    const fromCsv = parseCsv(csv).map((r) => r.device_time);
    expect(parquet.rows.map((r) => r.device_time)).toEqual(fromCsv);
  });

  it('marks the baseline phase and keeps one pseudonym per participant, different for another audience or trial', async () => {
    const rows = parseNdjson((await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson')).body);
    expect(new Set(rows.map((r) => r.phase))).toEqual(new Set(['baseline']));
    const ids = [...new Set(rows.map((r) => r.pseudonym))];
    expect(ids).toHaveLength(2);
    // Within a trial and audience the pseudonym is stable across requests.
    const again = parseNdjson((await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson')).body);
    expect([...new Set(again.map((r) => r.pseudonym))]).toEqual(ids);
  });

  it('applies the filters and clips them to the trial period', async () => {
    const url = `/v1/trials/TA/dataset?format=ndjson&from=${T0 - 100 * DAY}&to=${T0 + 15 * 60_000}`;
    const res = await w.call('researcherA', url);
    const rows = parseNdjson(res.body);
    expect(rows.map((r) => r.device_time)).toEqual([new Date(T0 + 10 * 60_000).toISOString(), new Date(T0 + 11 * 60_000).toISOString()]);
    const manifest = (await w.call('admin', `/v1/exports/${String(res.headers['x-export-id'])}/manifest`)).json();
    expect(manifest.filters).toEqual({
      from: new Date(T0 - DAY).toISOString(),
      to: new Date(T0 + 15 * 60_000).toISOString(),
      family: null,
      name: null,
      deviceId: null,
      kind: null,
    });
    expect(parseNdjson((await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson&name=left_bed')).body)).toHaveLength(2);
    expect(parseNdjson((await w.call('researcherA', '/v1/trials/TA/dataset?format=ndjson&family=fluid-balance')).body)).toHaveLength(2);
    expect((await w.call('researcherA', `/v1/trials/TA/dataset?from=${T0 + 1}&to=${T0}`)).statusCode).toBe(400);
    expect((await w.call('researcherA', '/v1/trials/TA/dataset?format=xlsx')).statusCode).toBe(400);
  });

  it('leaves no temp file behind once sent', async () => {
    await w.call('researcherA', '/v1/trials/TA/dataset?format=parquet');
    await w.call('vendorB', '/v1/trials/TA/dataset?format=csv');
    // The file is removed when the response has been sent, after inject() resolves: poll for it.
    await expect.poll(() => readdirSync(w.dir).filter((f) => f.startsWith('arena-export-'))).toEqual([]);
  });

  it('shows a manifest only to its own audience and admin', async () => {
    const research = String((await w.call('researcherA', '/v1/trials/TA/dataset')).headers['x-export-id']);
    const vendor = String((await w.call('vendorA', '/v1/trials/TA/dataset')).headers['x-export-id']);
    expect((await w.call('researcherB', `/v1/exports/${research}/manifest`)).statusCode).toBe(404);
    expect((await w.call('vendorA', `/v1/exports/${research}/manifest`)).statusCode).toBe(404);
    expect((await w.call('admin', `/v1/exports/${research}/manifest`)).statusCode).toBe(200);
    expect((await w.call('vendorA', `/v1/exports/${vendor}/manifest`)).json()).toMatchObject({
      audience: 'vendor.telemetry',
      vendorId: 'VA',
      rows: { total: 3, deviceData: 1 },
    });
    expect((await w.call('vendorB', `/v1/exports/${vendor}/manifest`)).statusCode).toBe(404);
    expect((await w.call('researcherA', `/v1/exports/${vendor}/manifest`)).statusCode).toBe(404);
    expect((await w.call('clinician', `/v1/exports/${vendor}/manifest`)).statusCode).toBe(403);
  });
});

describe('the codebook', () => {
  it('explains every column, measurement, unit and event code from the profiles', async () => {
    const c = (await w.call('researcherA', '/v1/trials/TA/codebook')).json();
    expect(c.measurements).toContainEqual({
      name: 'body_weight',
      label: 'Body weight',
      labelNb: 'Kroppsvekt',
      unit: 'kg',
      loinc: '29463-7',
      snomed: '27113001',
      profiles: ['aquascale'],
    });
    expect(c.events).toContainEqual(
      expect.objectContaining({ name: 'left_bed', alertCode: '4.2', alertDisplay: 'Forlatt sengen', profiles: ['bedwatch-senml'] }),
    );
    expect(c.severities.map((s: { code: number }) => s.code)).toEqual([0, 10, 20, 30, 40]);
    for (const col of c.columns) expect(col.description.length).toBeGreaterThan(10);
  });

  it('for a vendor lists only its own profiles and no participant columns', async () => {
    const c = (await w.call('vendorA', '/v1/trials/TA/codebook')).json();
    expect(c.profiles.map((p: { id: string }) => p.id)).toEqual(['aquascale']);
    expect(c.columns.map((x: { name: string }) => x.name)).not.toContain('pseudonym');
    expect((await w.call('vendorB', '/v1/trials/TB/codebook')).statusCode).toBe(404);
  });

  it('comes as CSV too', async () => {
    const res = await w.call('researcherA', '/v1/trials/TA/codebook?format=csv');
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const rows = parseCsv(res.body);
    expect(rows).toContainEqual(expect.objectContaining({ section: 'measurement', name: 'body_weight', unit: 'kg' }));
    expect(rows).toContainEqual(expect.objectContaining({ section: 'column', name: 'pseudonym' }));
  });
});
