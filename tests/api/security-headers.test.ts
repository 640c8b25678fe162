import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApi, type ApiFixture } from './fixture.js';

/** One hook (api/security-headers.ts) puts the same headers on data, errors and /docs. */
let f: ApiFixture;
beforeAll(async () => {
  f = await startApi();
});
afterAll(async () => f?.dispose());

const EXPECTED = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "frame-ancestors 'none'",
};

describe('security headers', () => {
  it('on data responses, errors and the docs', async () => {
    const calls = [
      { url: '/v1/sites', token: f.tokens.admin },
      { url: '/v1/devices/AQ-1/readings', token: f.tokens.vendorA },
      { url: '/v1/rejections/summary', token: f.tokens.vendorA },
      { url: '/v1/trials/trial-1/dataset?format=csv', token: f.tokens.researcher },
      { url: '/v1/trials/trial-1/codebook?format=csv', token: f.tokens.researcher },
      { url: '/v1/sites', token: null },
      { url: '/v1/sites/nope', token: f.tokens.admin },
      { url: '/no/such/route', token: null },
      { url: '/docs', token: null },
      { url: '/docs/json', token: null },
      { url: '/docs/static/index.html', token: null },
    ];
    for (const call of calls) {
      const res = await f.call(call);
      expect(res.statusCode, call.url).toBeLessThan(500);
      expect(res.headers, call.url).toMatchObject(EXPECTED);
    }
  });
});
