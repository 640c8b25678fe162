import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiFixture } from './fixture.js';

/** GET /v1/rejections and /v1/rejections/summary: a vendor's own fleet, an admin's whole arena. */

let api: ApiFixture;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => api?.dispose());

describe('GET /v1/rejections', () => {
  it("gives a vendor its own devices' rejections, newest first, with reason and raw payload", async () => {
    const res = await api.call({ method: 'GET', url: '/v1/rejections', token: api.tokens.vendorA });
    expect(res.statusCode).toBe(200);
    const items = res.json().items as { deviceId: string; code: string; payload: string; receivedAt: string }[];
    expect(items.map((r) => [r.deviceId, r.code])).toEqual([
      ['AQ-1', 'UNIT_UNKNOWN'],
      ['AQ-1', 'PAYLOAD_NOT_JSON'],
      ['AQ-1', 'PAYLOAD_NOT_JSON'],
    ]);
    for (const r of items) expect(typeof r.payload).toBe('string');
  });

  it('gives an admin every device', async () => {
    const res = await api.call({ method: 'GET', url: '/v1/rejections', token: api.tokens.admin });
    expect(new Set(res.json().items.map((r: { deviceId: string }) => r.deviceId))).toEqual(new Set(['AQ-1', 'BW-1']));
  });

  it('counts per reason, in all and per device', async () => {
    const mine = (await api.call({ method: 'GET', url: '/v1/rejections/summary', token: api.tokens.vendorB })).json();
    expect(mine).toEqual({ total: 1, counts: { SENML_INVALID: 1 }, devices: [{ deviceId: 'BW-1', total: 1, counts: { SENML_INVALID: 1 } }] });
    const all = (await api.call({ method: 'GET', url: '/v1/rejections/summary', token: api.tokens.admin })).json();
    expect(all.total).toBe(4);
    expect(all.counts).toEqual({ PAYLOAD_NOT_JSON: 2, UNIT_UNKNOWN: 1, SENML_INVALID: 1 });
  });

  it('honours the received-time window and the limit', async () => {
    const res = await api.call({ method: 'GET', url: '/v1/rejections?limit=1', token: api.tokens.vendorA });
    expect(res.json().items).toHaveLength(1);
    expect((await api.call({ method: 'GET', url: '/v1/rejections?from=2030-01-01T00:00:00Z', token: api.tokens.admin })).json().items).toEqual([]);
  });

  it('refuses other roles, and callers without a token', async () => {
    for (const url of ['/v1/rejections', '/v1/rejections/summary']) {
      expect((await api.call({ method: 'GET', url, token: api.tokens.clinician })).statusCode).toBe(403);
      expect((await api.call({ method: 'GET', url, token: api.tokens.researcher })).statusCode).toBe(403);
      expect((await api.call({ method: 'GET', url, token: null })).statusCode).toBe(401);
    }
  });
});
