import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLES, type IssuedRole, type Role } from '../../kernel/principal.js';
import { T0, startApi, type ApiFixture } from './fixture.js';
import { until } from '../helpers/poll.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await startApi({
    ingestStats: () => ({
      received: 1,
      accepted: 1,
      rejected: 0,
      acknowledged: 1,
      storedMessages: 1,
      duplicates: 0,
      batches: 1,
      failedMessages: 0,
      largestBatch: 1,
      rejectedByCode: {},
    }),
  });
});
afterAll(async () => f?.dispose());

interface RouteCase {
  readonly method: InjectOptions['method'];
  /** As in the OpenAPI document. */
  readonly path: string;
  readonly allow: readonly Role[] | 'public';
  /** A valid request; n makes created ids unique; role is who will send it. */
  readonly request: (n: number, role: Role | null) => Promise<InjectOptions> | InjectOptions;
}

const ADMIN: Role[] = ['admin'];
const READERS: Role[] = ['admin', 'vendor'];
const TRIAL_READERS: Role[] = ['admin', 'researcher', 'vendor'];

/** Every route of the API. The last test checks this table against /docs/json. */
const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/healthz', allow: 'public', request: () => ({ url: '/healthz' }) },
  { method: 'GET', path: '/readyz', allow: 'public', request: () => ({ url: '/readyz' }) },
  { method: 'GET', path: '/v1/profiles', allow: ROLES, request: () => ({ url: '/v1/profiles' }) },
  { method: 'GET', path: '/v1/profiles/{id}', allow: ROLES, request: () => ({ url: '/v1/profiles/aquascale' }) },
  { method: 'GET', path: '/v1/vendor/devices', allow: READERS, request: () => ({ url: '/v1/vendor/devices' }) },
  {
    method: 'POST',
    path: '/v1/profiles/{id}/decode',
    allow: READERS,
    request: () => ({ url: '/v1/profiles/aquascale/decode', payload: { payload: 'not json' } }),
  },
  { method: 'GET', path: '/v1/catalogue', allow: ROLES, request: () => ({ url: '/v1/catalogue' }) },
  { method: 'POST', path: '/v1/sites', allow: ADMIN, request: (n) => ({ url: '/v1/sites', payload: { id: `s-${n}`, name: 'S', kind: 'other' } }) },
  { method: 'GET', path: '/v1/sites', allow: ADMIN, request: () => ({ url: '/v1/sites' }) },
  { method: 'GET', path: '/v1/sites/{id}', allow: ADMIN, request: () => ({ url: '/v1/sites/site-a' }) },
  {
    method: 'POST',
    path: '/v1/sites/{siteId}/rooms',
    allow: ADMIN,
    request: (n) => ({ url: '/v1/sites/site-a/rooms', payload: { id: `r-${n}`, name: 'R', beds: 1 } }),
  },
  { method: 'GET', path: '/v1/sites/{siteId}/rooms', allow: ADMIN, request: () => ({ url: '/v1/sites/site-a/rooms' }) },
  { method: 'POST', path: '/v1/vendors', allow: ADMIN, request: (n) => ({ url: '/v1/vendors', payload: { id: `v-${n}`, name: 'V' } }) },
  { method: 'GET', path: '/v1/vendors', allow: ADMIN, request: () => ({ url: '/v1/vendors' }) },
  {
    method: 'POST',
    path: '/v1/devices',
    allow: ADMIN,
    request: (n) => ({ url: '/v1/devices', payload: { id: `D-${n}`, vendorId: 'vendor-a', profileId: 'aquascale' } }),
  },
  { method: 'GET', path: '/v1/devices', allow: ADMIN, request: () => ({ url: '/v1/devices' }) },
  { method: 'GET', path: '/v1/devices/{id}', allow: ADMIN, request: () => ({ url: '/v1/devices/AQ-1' }) },
  { method: 'PATCH', path: '/v1/devices/{id}', allow: ADMIN, request: () => ({ url: '/v1/devices/AQ-1', payload: { active: true } }) },
  { method: 'POST', path: '/v1/devices/{id}/rotate-secret', allow: ADMIN, request: () => ({ url: '/v1/devices/AQ-1/rotate-secret' }) },
  { method: 'GET', path: '/v1/devices/{id}/readings', allow: READERS, request: () => ({ url: '/v1/devices/AQ-1/readings' }) },
  { method: 'GET', path: '/v1/devices/{id}/events', allow: READERS, request: () => ({ url: '/v1/devices/AQ-1/events' }) },
  { method: 'GET', path: '/v1/devices/{id}/rejections', allow: READERS, request: () => ({ url: '/v1/devices/AQ-1/rejections' }) },
  { method: 'GET', path: '/v1/devices/{id}/rejections/summary', allow: READERS, request: () => ({ url: '/v1/devices/AQ-1/rejections/summary' }) },
  { method: 'GET', path: '/v1/rejections', allow: READERS, request: () => ({ url: '/v1/rejections' }) },
  { method: 'GET', path: '/v1/rejections/summary', allow: READERS, request: () => ({ url: '/v1/rejections/summary' }) },
  { method: 'POST', path: '/v1/tokens', allow: ADMIN, request: (n) => ({ url: '/v1/tokens', payload: { role: 'admin', label: `t-${n}` } }) },
  { method: 'GET', path: '/v1/tokens', allow: ADMIN, request: () => ({ url: '/v1/tokens' }) },
  {
    method: 'DELETE',
    path: '/v1/tokens/{id}',
    allow: ADMIN,
    request: async (n) => ({ url: `/v1/tokens/${(await f.registry.issueToken({ role: 'admin', label: `doomed-${n}`, expiresAt: null })).id}` }),
  },
  { method: 'GET', path: '/v1/ingest/stats', allow: ADMIN, request: () => ({ url: '/v1/ingest/stats' }) },
  {
    method: 'POST',
    path: '/v1/trials',
    allow: ADMIN,
    request: (n) => ({
      url: '/v1/trials',
      payload: { id: `t-${n}`, name: 'T', siteId: 'site-a', vendorIds: ['vendor-a'], protocolRef: 'REK 1', period: { from: T0, to: T0 + DAY } },
    }),
  },
  { method: 'GET', path: '/v1/trials', allow: TRIAL_READERS, request: () => ({ url: '/v1/trials' }) },
  { method: 'GET', path: '/v1/trials/{id}', allow: TRIAL_READERS, request: () => ({ url: '/v1/trials/trial-1' }) },
  { method: 'PATCH', path: '/v1/trials/{id}', allow: ADMIN, request: () => ({ url: '/v1/trials/trial-1', payload: { status: 'planned' } }) },
  {
    method: 'POST',
    path: '/v1/trials/{id}/participants',
    allow: ADMIN,
    request: (n) => ({ url: '/v1/trials/trial-1/participants', payload: { id: `p-${n}` } }),
  },
  { method: 'GET', path: '/v1/trials/{id}/participants', allow: ADMIN, request: () => ({ url: '/v1/trials/trial-1/participants' }) },
  { method: 'GET', path: '/v1/participants/{id}', allow: ADMIN, request: () => ({ url: '/v1/participants/p-007' }) },
  { method: 'DELETE', path: '/v1/participants/{id}/data', allow: ADMIN, request: async (n) => ({ url: `/v1/participants/${(await participant(n)).id}/data` }) },
  {
    method: 'POST',
    path: '/v1/participants/{id}/consents',
    allow: ADMIN,
    request: async (n) => ({ url: `/v1/participants/${(await participant(n)).id}/consents`, payload: { scope: 'research', grantedAt: T0, formVersion: 'v1' } }),
  },
  { method: 'GET', path: '/v1/participants/{id}/consents', allow: ADMIN, request: () => ({ url: '/v1/participants/p-007/consents' }) },
  {
    method: 'POST',
    path: '/v1/consents/{id}/withdraw',
    allow: ADMIN,
    request: async (n) => {
      const c = await f.registry.grantConsent({ participantId: (await participant(n)).id, scope: 'research', grantedAt: T0, formVersion: 'v1' });
      return { url: `/v1/consents/${c.id}/withdraw`, payload: {} };
    },
  },
  {
    method: 'POST',
    path: '/v1/trials/{id}/assignments',
    allow: ADMIN,
    request: async (n) => ({
      url: '/v1/trials/trial-1/assignments',
      payload: { deviceId: (await device(n)).id, participantId: (await participant(n)).id, from: T0 },
    }),
  },
  { method: 'GET', path: '/v1/trials/{id}/assignments', allow: ADMIN, request: () => ({ url: '/v1/trials/trial-1/assignments' }) },
  {
    method: 'POST',
    path: '/v1/assignments/{id}/end',
    allow: ADMIN,
    request: async (n) => {
      const a = await f.registry.createAssignment({ trialId: 'trial-1', deviceId: (await device(n)).id, participantId: (await participant(n)).id, from: T0 });
      return { url: `/v1/assignments/${a.id}/end`, payload: { at: T0 + 1000 } };
    },
  },
  { method: 'GET', path: '/v1/trials/{id}/dataset', allow: ['researcher', 'vendor'], request: () => ({ url: '/v1/trials/trial-1/dataset?format=ndjson' }) },
  { method: 'GET', path: '/v1/trials/{id}/codebook', allow: TRIAL_READERS, request: () => ({ url: '/v1/trials/trial-1/codebook' }) },
  { method: 'GET', path: '/v1/trials/{id}/observation-periods', allow: ['researcher'], request: () => ({ url: '/v1/trials/trial-1/observation-periods' }) },
  { method: 'GET', path: '/v1/trials/{id}/report', allow: TRIAL_READERS, request: () => ({ url: '/v1/trials/trial-1/report?format=csv' }) },
  {
    method: 'GET',
    path: '/v1/exports/{id}/manifest',
    allow: TRIAL_READERS,
    // Each export is visible to its own audience: a vendor's to that vendor, a research one to the trial's researchers.
    request: async (n, role) => {
      const vendor = role === 'vendor';
      const id = `exp-test-${n}`;
      await f.registry.recordExport({
        id,
        trialId: 'trial-1',
        audience: vendor ? 'vendor.telemetry' : 'research',
        vendorId: vendor ? 'vendor-a' : null,
        tokenId: 'tok-x',
        createdAt: T0,
        manifest: { exportId: id },
      });
      return { url: `/v1/exports/${id}/manifest` };
    },
  },
  { method: 'GET', path: '/v1/audit', allow: ADMIN, request: () => ({ url: '/v1/audit' }) },
  { method: 'GET', path: '/v1/audit/verify', allow: ADMIN, request: () => ({ url: '/v1/audit/verify' }) },
];

const DAY = 86_400_000;
const participant = (n: number) => f.registry.enrolParticipant({ id: `px-${n}`, trialId: 'trial-1' });
const device = async (n: number) => (await f.registry.createDevice({ id: `DX-${n}`, vendorId: 'vendor-a', profileId: 'aquascale', roomId: 'room-1' })).device;

const tokenFor = (role: IssuedRole): string =>
  ({ admin: f.tokens.admin, vendor: f.tokens.vendorA, clinician: f.tokens.clinician, researcher: f.tokens.researcher })[role];
let n = 0;
const send = async (route: RouteCase, token: string | null, role: Role | null = null) =>
  f.call({ method: route.method, ...(await route.request(n++, role)), token });

describe('every route is refused without a token, refused to other roles, and served to its own', () => {
  for (const route of ROUTES) {
    it(`${route.method} ${route.path}`, async () => {
      if (route.allow === 'public') {
        expect((await send(route, null)).statusCode).toBe(200);
        return;
      }
      const anonymous = await send(route, null);
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
      expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
      expect((await send(route, 'not-a-real-token')).statusCode).toBe(401);
      for (const role of ROLES) {
        const res = await send(route, tokenFor(role), role);
        if (route.allow.includes(role)) {
          expect(res.statusCode, `${role}: ${res.body}`).toBeLessThan(300);
        } else {
          expect(res.statusCode, role).toBe(403);
          expect(res.json()).toMatchObject({ code: 'FORBIDDEN' });
        }
      }
    });
  }

  it('checks the token before the body: an invalid body without a token is 401, not 400', async () => {
    const res = await f.call({ method: 'POST', url: '/v1/sites', payload: { id: '???' } });
    expect(res.statusCode).toBe(401);
  });

  it('refuses a revoked token at once, and an expired one', async () => {
    const { id, token } = await f.registry.issueToken({ role: 'admin', label: 'short-lived', expiresAt: null });
    expect((await f.call({ url: '/v1/sites', token })).statusCode).toBe(200);
    expect((await f.call({ method: 'DELETE', url: `/v1/tokens/${id}`, token: f.tokens.admin })).statusCode).toBe(204);
    expect((await f.call({ url: '/v1/sites', token })).statusCode).toBe(401);

    const expiresAt = Date.now() + 40;
    const soon = await f.registry.issueToken({ role: 'admin', label: 'expiring', expiresAt });
    await until('the clock passes the expiry', () => Date.now() > expiresAt);
    expect((await f.call({ url: '/v1/sites', token: soon.token })).statusCode).toBe(401);
  });

  it('accepts only the Bearer scheme', async () => {
    expect((await f.call({ url: '/v1/sites', headers: { authorization: `Basic ${f.tokens.admin}` } })).statusCode).toBe(401);
    expect((await f.call({ url: '/v1/sites', headers: { authorization: `bearer ${f.tokens.admin}` } })).statusCode).toBe(200);
  });

  it('the table above covers every route in the OpenAPI document', async () => {
    const spec = (await f.call({ url: '/docs/json' })).json() as { paths: Record<string, Record<string, unknown>> };
    const documented = Object.entries(spec.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
  });
});
