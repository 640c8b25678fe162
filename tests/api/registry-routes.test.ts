import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifySecret } from '../../kernel/secrets.js';
import { startApi, type ApiFixture } from './fixture.js';

let f: ApiFixture;
beforeAll(async () => {
  f = await startApi();
});
afterAll(async () => f?.dispose());

const admin = (opts: Parameters<ApiFixture['call']>[0]) => f.call({ token: f.tokens.admin, ...opts });

describe('sites and rooms', () => {
  it('creates a site and rooms in it, and lists them', async () => {
    const created = await admin({ method: 'POST', url: '/v1/sites', payload: { id: 'flat-1', name: 'Demo flat', kind: 'demo-flat' } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toEqual({ id: 'flat-1', name: 'Demo flat', kind: 'demo-flat', createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) });
    expect((await admin({ url: '/v1/sites/flat-1' })).json()).toEqual(created.json());
    expect((await admin({ url: '/v1/sites' })).json().items.map((s: { id: string }) => s.id)).toEqual(['flat-1', 'site-a']);

    const room = await admin({ method: 'POST', url: '/v1/sites/flat-1/rooms', payload: { id: 'kitchen', name: 'Kitchen', beds: 0 } });
    expect(room.statusCode).toBe(201);
    expect(room.json()).toMatchObject({ id: 'kitchen', siteId: 'flat-1', beds: 0 });
    expect((await admin({ url: '/v1/sites/flat-1/rooms' })).json().items).toEqual([room.json()]);
  });

  it('answers 404 for a missing site, 409 for a duplicate', async () => {
    expect((await admin({ url: '/v1/sites/nope' })).json()).toMatchObject({ status: 404, code: 'NOT_FOUND' });
    expect((await admin({ url: '/v1/sites/nope/rooms' })).statusCode).toBe(404);
    expect((await admin({ method: 'POST', url: '/v1/sites/nope/rooms', payload: { id: 'x', name: 'x', beds: 1 } })).statusCode).toBe(404);
    const dup = await admin({ method: 'POST', url: '/v1/sites', payload: { id: 'site-a', name: 'again', kind: 'other' } });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ code: 'CONFLICT', detail: expect.stringContaining('site-a') });
  });
});

describe('vendors', () => {
  it('registers and lists vendors', async () => {
    expect((await admin({ method: 'POST', url: '/v1/vendors', payload: { id: 'dosebox', name: 'DoseBox' } })).statusCode).toBe(201);
    const ids = (await admin({ url: '/v1/vendors' })).json().items.map((v: { id: string }) => v.id);
    expect(ids).toEqual(['dosebox', 'vendor-a', 'vendor-b']);
  });
});

describe('devices', () => {
  it('returns the secret once with the MQTT topics, and never again', async () => {
    const res = await admin({
      method: 'POST',
      url: '/v1/devices',
      payload: { id: 'AQ-2', vendorId: 'vendor-a', profileId: 'aquascale', roomId: 'room-1', label: 'scale 2' },
    });
    expect(res.statusCode).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const body = res.json();
    expect(body.device).toEqual({
      id: 'AQ-2',
      vendorId: 'vendor-a',
      profileId: 'aquascale',
      siteId: 'site-a',
      roomId: 'room-1',
      label: 'scale 2',
      active: true,
      createdAt: expect.any(String),
    });
    expect(body.mqtt).toEqual({ username: 'AQ-2', publishTopics: ['devices/AQ-2/measurements'], commandTopic: 'devices/AQ-2/commands' });
    const secret: string = body.secret;
    const { secretHash } = (await f.registry.directory.credentials('AQ-2'))!;
    expect(await verifySecret(secret, secretHash)).toBe(true);

    for (const url of ['/v1/devices/AQ-2', '/v1/devices', '/v1/devices?vendorId=vendor-a']) {
      const text = (await admin({ url })).body;
      expect(text).toContain('AQ-2');
      expect(text).not.toContain(secret);
      expect(text).not.toContain(secretHash);
      expect(text).not.toMatch(/secret|hash|scrypt/i);
    }
  });

  it('rotates the secret: the new one works, the old one no longer', async () => {
    const old = (await admin({ method: 'POST', url: '/v1/devices', payload: { id: 'AQ-3', vendorId: 'vendor-a', profileId: 'aquascale' } })).json().secret;
    const res = await admin({ method: 'POST', url: '/v1/devices/AQ-3/rotate-secret' });
    expect(res.statusCode).toBe(200);
    const { deviceId, secret } = res.json();
    expect(deviceId).toBe('AQ-3');
    const { secretHash } = (await f.registry.directory.credentials('AQ-3'))!;
    expect(await verifySecret(secret, secretHash)).toBe(true);
    expect(await verifySecret(old, secretHash)).toBe(false);
    expect((await admin({ method: 'POST', url: '/v1/devices/nope/rotate-secret' })).statusCode).toBe(404);
  });

  it('deactivates a device with PATCH', async () => {
    const res = await admin({ method: 'PATCH', url: '/v1/devices/BW-1', payload: { active: false } });
    expect(res.json()).toMatchObject({ id: 'BW-1', active: false });
    expect((await f.registry.directory.credentials('BW-1'))!.active).toBe(false);
    expect((await admin({ method: 'PATCH', url: '/v1/devices/BW-1', payload: { active: true } })).json().active).toBe(true);
    expect((await admin({ method: 'PATCH', url: '/v1/devices/nope', payload: { active: true } })).statusCode).toBe(404);
    const bad = await admin({ method: 'PATCH', url: '/v1/devices/BW-1', payload: { active: 'no' } });
    expect(bad.json().issues).toEqual([expect.objectContaining({ path: 'body.active' })]);
  });

  it('filters the list by vendor and site', async () => {
    const ids = async (q: string) => (await admin({ url: `/v1/devices${q}` })).json().items.map((d: { id: string }) => d.id);
    expect(await ids('?vendorId=vendor-b')).toEqual(['BW-1']);
    expect(await ids('?siteId=site-a')).toEqual(expect.arrayContaining(['AQ-1', 'BW-1']));
  });

  it('names the field of a bad reference or a bad body', async () => {
    const unknownVendor = await admin({ method: 'POST', url: '/v1/devices', payload: { id: 'X-1', vendorId: 'ghost', profileId: 'aquascale' } });
    expect(unknownVendor.statusCode).toBe(400);
    expect(unknownVendor.json().detail).toMatch(/^vendorId: /);
    const unknownProfile = await admin({ method: 'POST', url: '/v1/devices', payload: { id: 'X-1', vendorId: 'vendor-a', profileId: 'toaster' } });
    expect(unknownProfile.json().detail).toMatch(/^profileId: /);
    const badId = await admin({ method: 'POST', url: '/v1/devices', payload: { id: 'devices/#', vendorId: 'vendor-a' } });
    expect(badId.statusCode).toBe(400);
    expect(
      badId
        .json()
        .issues.map((i: { path: string }) => i.path)
        .sort(),
    ).toEqual(['body.id', 'body.profileId']);
    const dup = await admin({ method: 'POST', url: '/v1/devices', payload: { id: 'AQ-1', vendorId: 'vendor-a', profileId: 'aquascale' } });
    expect(dup.statusCode).toBe(409);
  });
});

describe('tokens', () => {
  it('issues a token once; the listing never shows a token value or digest', async () => {
    const res = await admin({
      method: 'POST',
      url: '/v1/tokens',
      payload: { role: 'vendor', vendorId: 'vendor-b', label: 'bedwatch ci', expiresAt: '2099-01-01T00:00:00+01:00' },
    });
    expect(res.statusCode).toBe(201);
    const issued = res.json();
    expect(issued).toMatchObject({ role: 'vendor', vendorId: 'vendor-b', label: 'bedwatch ci', expiresAt: '2098-12-31T23:00:00.000Z', revokedAt: null });
    expect(typeof issued.token).toBe('string');
    // The issued token works.
    expect((await f.call({ url: '/v1/devices/BW-1/readings', token: issued.token })).statusCode).toBe(200);

    const list = await admin({ url: '/v1/tokens' });
    expect(list.json().items.map((t: { id: string }) => t.id)).toContain(issued.id);
    expect(list.body).not.toContain(issued.token);
    expect(list.body).not.toContain(f.tokens.admin);
    expect(list.body).not.toMatch(/"token"|digest/);
  });

  it('refuses a token wider or narrower than its role', async () => {
    const noVendor = await admin({ method: 'POST', url: '/v1/tokens', payload: { role: 'vendor', label: 'x' } });
    expect(noVendor.statusCode).toBe(400);
    expect(noVendor.json().detail).toMatch(/vendorId/);
    const adminWithSites = await admin({ method: 'POST', url: '/v1/tokens', payload: { role: 'admin', siteIds: ['site-a'], label: 'x' } });
    expect(adminWithSites.json().detail).toMatch(/siteIds/);
    const badTime = await admin({ method: 'POST', url: '/v1/tokens', payload: { role: 'admin', label: 'x', expiresAt: 'tomorrow' } });
    expect(badTime.json().issues).toEqual([expect.objectContaining({ path: 'body.expiresAt' })]);
  });

  it('revokes with DELETE, idempotently; an unknown id is 404', async () => {
    const { id } = (await admin({ method: 'POST', url: '/v1/tokens', payload: { role: 'admin', label: 'temp' } })).json();
    expect((await admin({ method: 'DELETE', url: `/v1/tokens/${id}` })).statusCode).toBe(204);
    expect((await admin({ method: 'DELETE', url: `/v1/tokens/${id}` })).statusCode).toBe(204);
    const listed = (await admin({ url: '/v1/tokens' })).json().items.find((t: { id: string }) => t.id === id);
    expect(listed.revokedAt).toEqual(expect.any(String));
    expect((await admin({ method: 'DELETE', url: '/v1/tokens/tok-ghost' })).statusCode).toBe(404);
  });
});

describe('profiles', () => {
  it('lists the vendor contracts to any authenticated principal', async () => {
    const list = (await f.call({ url: '/v1/profiles', token: f.tokens.vendorB })).json();
    expect(list.items.map((p: { id: string }) => p.id)).toEqual(expect.arrayContaining(['aquascale', 'bedwatch-senml']));
    const p = (await f.call({ url: '/v1/profiles/bedwatch-senml', token: f.tokens.researcher })).json();
    expect(p).toMatchObject({ id: 'bedwatch-senml', format: 'senml', topics: ['devices/{deviceId}/senml'], payload: { type: 'object' } });
    expect(p.readings.length).toBeGreaterThan(0);
    expect((await f.call({ url: '/v1/profiles/nope', token: f.tokens.vendorB })).statusCode).toBe(404);
  });
});

describe('trials', () => {
  it('shows the status time gives a trial: planned before its period, running inside it, completed after it, and a status recorded further on stands', async () => {
    const day = 86_400_000;
    const now = Date.now();
    const create = async (id: string, from: number, to: number) => {
      const res = await admin({
        method: 'POST',
        url: '/v1/trials',
        payload: { id, name: id, siteId: 'site-a', vendorIds: ['vendor-a'], protocolRef: 'REK 1', period: { from, to } },
      });
      expect(res.statusCode).toBe(201);
      return res.json().status as string;
    };
    expect(await create('t-future', now + day, now + 2 * day)).toBe('planned');
    expect(await create('t-now', now - day, now + day)).toBe('running');
    expect(await create('t-past', now - 2 * day, now - day)).toBe('completed');
    expect((await admin({ url: '/v1/trials/t-now' })).json().status).toBe('running');
    const listed = (await admin({ url: '/v1/trials' })).json().items as { id: string; status: string }[];
    expect(Object.fromEntries(listed.filter((t) => t.id.startsWith('t-')).map((t) => [t.id, t.status]))).toEqual({
      't-future': 'planned',
      't-now': 'running',
      't-past': 'completed',
    });
    // Archived by hand before its time: time never moves a trial backwards.
    for (const status of ['running', 'completed', 'archived'])
      expect((await admin({ method: 'PATCH', url: '/v1/trials/t-future', payload: { status } })).statusCode).toBe(200);
    expect((await admin({ url: '/v1/trials/t-future' })).json().status).toBe('archived');
  });
});
