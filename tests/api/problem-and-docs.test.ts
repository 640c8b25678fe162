import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HubError } from '../../kernel/errors.js';
import { startApi, type ApiFixture } from './fixture.js';

let f: ApiFixture;
let hubReady = true;
beforeAll(async () => {
  f = await startApi({
    ready: async () => {
      if (!hubReady) throw new Error('broker not listening');
    },
  });
  // Routes that exist only in this test, added before the app is ready.
  f.app.get('/test/crash', { config: { access: 'public' }, schema: { hide: true } }, async () => {
    throw new Error('connection string postgres://hub:hunter2@db/arena failed');
  });
  f.app.get('/test/internal', { config: { access: 'public' }, schema: { hide: true } }, async () => {
    throw new HubError('INTERNAL', 'file /var/lib/arena/registry.duckdb is corrupt');
  });
  f.app.get('/test/undeclared', { schema: { hide: true } }, async () => 'should never be served');
});
afterAll(async () => f?.dispose());

const PROBLEM_KEYS = ['code', 'detail', 'instance', 'requestId', 'status', 'title', 'type'];

describe('problem details (RFC 9457)', () => {
  it('every error has the problem shape and content type', async () => {
    const cases = [
      { res: await f.call({ url: '/v1/sites' }), status: 401, code: 'UNAUTHENTICATED' },
      { res: await f.call({ url: '/v1/sites', token: f.tokens.vendorA }), status: 403, code: 'FORBIDDEN' },
      { res: await f.call({ url: '/v1/sites/nope', token: f.tokens.admin }), status: 404, code: 'NOT_FOUND' },
      {
        res: await f.call({ method: 'POST', url: '/v1/vendors', payload: { id: 'vendor-a', name: 'x' }, token: f.tokens.admin }),
        status: 409,
        code: 'CONFLICT',
      },
      { res: await f.call({ url: '/no/such/route' }), status: 404, code: 'NOT_FOUND' },
    ];
    for (const { res, status, code } of cases) {
      expect(res.statusCode).toBe(status);
      expect(res.headers['content-type']).toBe('application/problem+json; charset=utf-8');
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
      expect(body).toMatchObject({ status, code, type: `urn:arena-hub:problem:${code.toLowerCase().replaceAll('_', '-')}` });
      expect(body.title.length).toBeGreaterThan(0);
    }
    expect(cases[4]!.res.json()).toMatchObject({ instance: '/no/such/route', detail: 'no route GET /no/such/route' });
  });

  it('a validation error lists each offending field', async () => {
    const res = await f.call({ method: 'POST', url: '/v1/sites', token: f.tokens.admin, payload: { id: 'has space', kind: 'castle', extra: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body.code).toBe('VALIDATION_FAILED');
    expect(body.issues.map((i: { path: string }) => i.path).sort()).toEqual(['body.id', 'body.kind', 'body.name']);
    expect(body.detail).toContain('body.id');
    for (const issue of body.issues) expect(issue.message.length).toBeGreaterThan(0);
  });

  it('bad JSON and a wrong content type are VALIDATION_FAILED problems', async () => {
    const badJson = await f.call({
      method: 'POST',
      url: '/v1/sites',
      token: f.tokens.admin,
      headers: { 'content-type': 'application/json' },
      payload: '{"id":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
    const text = await f.call({ method: 'POST', url: '/v1/sites', token: f.tokens.admin, headers: { 'content-type': 'text/plain' }, payload: 'hi' });
    expect(text.statusCode).toBe(400);
    expect(text.json()).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('a 500 leaks neither the message nor the stack', async () => {
    for (const url of ['/test/crash', '/test/internal']) {
      const res = await f.call({ url });
      expect(res.statusCode).toBe(500);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const body = res.json();
      expect(Object.keys(body).sort()).toEqual(PROBLEM_KEYS);
      expect(body.code).toBe('INTERNAL');
      expect(body.detail).toContain(body.requestId);
      expect(res.body).not.toMatch(/hunter2|postgres|registry\.duckdb|corrupt|at .*\.ts|stack/i);
    }
  });

  it('a route that declares no access is refused, even to an admin', async () => {
    for (const token of [null, f.tokens.admin]) {
      const res = await f.call({ url: '/test/undeclared', token });
      expect(res.statusCode).toBe(403);
      expect(res.body).not.toContain('should never be served');
    }
  });
});

describe('health', () => {
  it('liveness needs nothing; readiness needs the store, the registry and the hub check', async () => {
    expect((await f.call({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    expect((await f.call({ url: '/readyz' })).json()).toEqual({ status: 'ready' });

    f.failPing = true;
    try {
      expect((await f.call({ url: '/healthz' })).statusCode).toBe(200);
      const res = await f.call({ url: '/readyz' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.json()).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', detail: 'store is not ready' });
      expect(res.body).not.toContain('/secret/path');
    } finally {
      f.failPing = false;
    }

    hubReady = false;
    try {
      expect((await f.call({ url: '/readyz' })).json()).toMatchObject({ status: 503, detail: 'hub is not ready' });
    } finally {
      hubReady = true;
    }
    expect((await f.call({ url: '/readyz' })).statusCode).toBe(200);
  });
});

describe('OpenAPI', () => {
  it('documents every route with its security, problems and descriptions', async () => {
    const res = await f.call({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const spec = res.json();
    expect(spec.openapi).toBe('3.1.0');
    expect(spec.components.securitySchemes.bearerAuth).toEqual(expect.objectContaining({ type: 'http', scheme: 'bearer' }));
    const ops = Object.entries(spec.paths as Record<string, Record<string, { security?: unknown; summary?: string; responses: Record<string, any> }>>).flatMap(
      ([path, byMethod]) => Object.entries(byMethod).map(([method, op]) => ({ path, method, op })),
    );
    expect(ops.length).toBeGreaterThanOrEqual(23);
    for (const { path, method, op } of ops) {
      const where = `${method} ${path}`;
      expect(op.summary, where).toBeTruthy();
      if (path === '/healthz' || path === '/readyz') {
        expect(op.security, where).toBeUndefined();
        continue;
      }
      expect(op.security, where).toEqual([{ bearerAuth: [] }]);
      expect(op.responses['401']?.content?.['application/problem+json'], where).toBeDefined();
    }
    // The hidden test routes above and the docs' own routes are not in the document.
    expect(Object.keys(spec.paths).filter((p) => p.startsWith('/test') || p.startsWith('/docs'))).toEqual([]);
    const devicePost = spec.paths['/v1/devices'].post;
    expect(JSON.stringify(devicePost.requestBody)).toContain('MQTT username');
  });

  it('serves the UI publicly', async () => {
    const res = await f.call({ url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
  });
});
