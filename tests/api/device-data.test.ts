import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { T0, startApi, type ApiFixture } from './fixture.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await startApi();
});
afterAll(async () => f?.dispose());

const MIN = 60_000;
const ATTRIBUTION = ['siteId', 'roomId', 'trialId', 'participantId'];
const get = (url: string, token: string) => f.call({ url, token });

describe('admin reads any device', () => {
  it('readings come newest first, with attribution and 64-bit ids as strings', async () => {
    const res = await get('/v1/devices/AQ-1/readings?name=body_weight', f.tokens.admin);
    expect(res.statusCode).toBe(200);
    const items = res.json().items;
    expect(items.map((r: { value: number }) => r.value)).toEqual([74, 73, 72, 71, 70]);
    expect(items[0]).toEqual({
      messageId: (2n ** 63n + 4n).toString(),
      seq: 0,
      deviceId: 'AQ-1',
      profileId: 'aquascale',
      family: 'fluid-balance',
      name: 'body_weight',
      deviceTime: new Date(T0 + 4 * MIN).toISOString(),
      receivedAt: new Date(T0 + 4 * MIN + 500).toISOString(),
      clockSkewed: false,
      siteId: 'site-a',
      roomId: 'room-1',
      trialId: 'trial-1',
      participantId: 'p-007',
      value: 74,
      unit: 'kg',
    });
  });

  it('filters by name and by [from, to) in epoch ms or ISO 8601, and limits', async () => {
    const values = async (q: string) => (await get(`/v1/devices/AQ-1/readings?${q}`, f.tokens.admin)).json().items.map((r: { value: number }) => r.value);
    expect(await values('')).toEqual([0.25, 74, 73, 72, 71, 70]);
    expect(await values('name=fluid_intake')).toEqual([0.25]);
    expect(await values(`from=${T0 + MIN}&to=${T0 + 3 * MIN}`)).toEqual([72, 71]);
    expect(await values(`from=${encodeURIComponent(new Date(T0 + MIN).toISOString())}&to=2025-03-01T09:03:00%2B01:00`)).toEqual([72, 71]);
    expect(await values('limit=2')).toEqual([0.25, 74]);
  });

  it('refuses limits over 10,000, bad times and a reversed range, naming the field', async () => {
    const issues = async (q: string) => (await get(`/v1/devices/AQ-1/readings?${q}`, f.tokens.admin)).json().issues.map((i: { path: string }) => i.path);
    expect(await issues('limit=10001')).toEqual(['querystring.limit']);
    expect(await issues('limit=0')).toEqual(['querystring.limit']);
    expect(await issues('from=2025-03-01T08:00:00')).toEqual(['querystring.from']); // no offset: ambiguous
    expect(await issues('from=2025-02-30T08:00:00Z')).toEqual(['querystring.from']); // no such day
    expect(await issues(`from=${T0 + MIN}&to=${T0}`)).toEqual(['querystring.to']);
    expect((await get('/v1/devices/AQ-1/readings?limit=10000', f.tokens.admin)).statusCode).toBe(200);
  });

  it('events carry VKP codes, severity and attributes', async () => {
    const items = (await get('/v1/devices/BW-1/events', f.tokens.admin)).json().items;
    expect(items.map((e: { messageId: string }) => e.messageId)).toEqual(['501', '500']);
    expect(items[0]).toMatchObject({
      name: 'left_bed',
      alertCode: '4.2',
      dispenseCode: null,
      severity: 20,
      attributes: { zone: 'bed' },
      clockSkewed: true,
      participantId: 'p-007',
    });
  });

  it('rejections come newest first; the summary counts per code', async () => {
    const items = (await get('/v1/devices/AQ-1/rejections', f.tokens.admin)).json().items;
    expect(items.map((r: { code: string }) => r.code)).toEqual(['UNIT_UNKNOWN', 'PAYLOAD_NOT_JSON', 'PAYLOAD_NOT_JSON']);
    expect(items[0]).toMatchObject({ messageId: '902', deviceId: 'AQ-1', payload: '{"bad":', receivedAt: new Date(T0 + 3 * MIN).toISOString() });
    expect((await get('/v1/devices/AQ-1/rejections?limit=1', f.tokens.admin)).json().items).toHaveLength(1);
    const summary = (await get('/v1/devices/AQ-1/rejections/summary', f.tokens.admin)).json();
    expect(summary).toEqual({ deviceId: 'AQ-1', total: 3, counts: { PAYLOAD_NOT_JSON: 2, UNIT_UNKNOWN: 1 } });
    const windowed = (await get(`/v1/devices/AQ-1/rejections/summary?from=${T0 + 2 * MIN}`, f.tokens.admin)).json();
    expect(windowed).toEqual({ deviceId: 'AQ-1', total: 2, counts: { PAYLOAD_NOT_JSON: 1, UNIT_UNKNOWN: 1 } });
  });

  it('a missing device is 404', async () => {
    expect((await get('/v1/devices/NOPE/readings', f.tokens.admin)).json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });
});

describe('a vendor reads only its own devices, without attribution', () => {
  it('sees its readings but no site, room, trial or participant', async () => {
    const res = await get('/v1/devices/AQ-1/readings', f.tokens.vendorA);
    expect(res.statusCode).toBe(200);
    const items = res.json().items;
    expect(items).toHaveLength(6);
    for (const r of items) for (const key of ATTRIBUTION) expect(r).not.toHaveProperty(key);
    for (const secret of ['site-a', 'room-1', 'trial-1', 'p-007']) expect(res.body).not.toContain(secret);
  });

  it('sees its events without attribution', async () => {
    const res = await get('/v1/devices/BW-1/events', f.tokens.vendorB);
    expect(res.json().items).toHaveLength(2);
    for (const secret of ['site-a', 'room-1', 'trial-1', 'p-007']) expect(res.body).not.toContain(secret);
  });

  it("gets 404 for another vendor's device, exactly as for a missing one", async () => {
    for (const path of ['readings', 'events', 'rejections', 'rejections/summary']) {
      const other = await get(`/v1/devices/BW-1/${path}`, f.tokens.vendorA);
      const missing = await get(`/v1/devices/NOPE-1/${path}`, f.tokens.vendorA);
      expect(other.statusCode, path).toBe(404);
      expect(missing.statusCode, path).toBe(404);
      const strip = (b: Record<string, unknown>) => ({ ...b, detail: String(b.detail).replace(/BW-1|NOPE-1/, 'X'), instance: undefined, requestId: undefined });
      expect(strip(other.json())).toEqual(strip(missing.json()));
      expect(other.body).not.toContain('site-a');
    }
    expect((await get('/v1/devices/AQ-1/rejections', f.tokens.vendorB)).statusCode).toBe(404);
  });

  it('sees its own rejections and summary', async () => {
    const items = (await get('/v1/devices/BW-1/rejections', f.tokens.vendorB)).json().items;
    expect(items.map((r: { code: string }) => r.code)).toEqual(['SENML_INVALID']);
    expect((await get('/v1/devices/BW-1/rejections/summary', f.tokens.vendorB)).json()).toEqual({ deviceId: 'BW-1', total: 1, counts: { SENML_INVALID: 1 } });
  });

  it('cannot read device metadata or the device list', async () => {
    expect((await get('/v1/devices/AQ-1', f.tokens.vendorA)).statusCode).toBe(403);
    expect((await get('/v1/devices', f.tokens.vendorA)).statusCode).toBe(403);
  });
});
