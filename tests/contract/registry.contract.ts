import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadProfiles, type ProfileSet } from '../../device-profiles/load.js';
import type { Registry } from '../../kernel/registry.js';
import { verifySecret } from '../../kernel/secrets.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { rejectsWith } from '../helpers/errors.js';

export type OpenRegistry = () => Promise<Registry & TokenRegistry>;

/** The profile set every runner passes to its registry: the shipped vendor profiles. */
export const contractProfiles = (): ProfileSet => loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 30 * 86_400_000, maxFutureMs: 60_000 });

/**
 * What a reopen test writes before it closes a registry: site-a with room-1, vendor aqua,
 * device AQ-1 there (deactivated), a vendor token kept and an admin token revoked.
 */
export async function seedBeforeReopen(reg: Registry & TokenRegistry) {
  await reg.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
  await reg.createRoom({ id: 'room-1', siteId: 'site-a', name: 'Room 1', beds: 1 });
  await reg.createVendor({ id: 'aqua', name: 'AquaScale' });
  const { secret } = await reg.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
  await reg.setDeviceActive('AQ-1', false);
  const kept = await reg.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'kept', expiresAt: null });
  const revoked = await reg.issueToken({ role: 'admin', label: 'revoked', expiresAt: null });
  await reg.revokeToken(revoked.id);
  return { secret, kept, revoked };
}

/**
 * What every Registry & TokenRegistry adapter must do. `open` returns a fresh, empty
 * registry each call (a new file or schema) loaded with contractProfiles().
 */
export function registryContract(name: string, open: OpenRegistry): void {
  describe(`registry contract: ${name}`, () => {
    let reg: Registry & TokenRegistry;
    beforeEach(async () => {
      reg = await open();
    });
    afterEach(async () => {
      await reg.close();
    });

    const seed = async (): Promise<void> => {
      await reg.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
      await reg.createSite({ id: 'site-b', name: 'Demo flat', kind: 'demo-flat' });
      await reg.createRoom({ id: 'room-1', siteId: 'site-a', name: 'Room 1', beds: 2 });
      await reg.createRoom({ id: 'room-2', siteId: 'site-b', name: 'Kitchen', beds: 0 });
      await reg.createVendor({ id: 'aqua', name: 'AquaScale' });
      await reg.createVendor({ id: 'bed', name: 'BedWatch' });
      await reg.createTrial({
        id: 'trial-1',
        name: 'Trial 1',
        siteId: 'site-a',
        vendorIds: ['aqua'],
        protocolRef: 'REK 1',
        period: { from: 0, to: 86_400_000 },
      });
    };

    describe('sites and rooms', () => {
      it('creates, gets and lists sites', async () => {
        const site = await reg.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
        expect(site).toMatchObject({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
        expect(typeof site.createdAt).toBe('number');
        expect(await reg.getSite('site-a')).toEqual(site);
        expect(await reg.getSite('nope')).toBeUndefined();
        await reg.createSite({ id: 'site-0', name: 'Other', kind: 'other' });
        expect((await reg.listSites()).map((s) => s.id)).toEqual(['site-0', 'site-a']);
      });

      it('refuses a duplicate id, an unsafe id and an unknown kind', async () => {
        await reg.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
        await rejectsWith(reg.createSite({ id: 'site-a', name: 'Again', kind: 'other' }), 'CONFLICT');
        await rejectsWith(reg.createSite({ id: 'a/b', name: 'x', kind: 'other' }), 'VALIDATION_FAILED', /^id:/);
        await rejectsWith(reg.createSite({ id: 'ok', name: 'x', kind: 'castle' as 'other' }), 'VALIDATION_FAILED', /kind/);
        await rejectsWith(reg.createSite({ id: 'ok', name: '  ', kind: 'other' }), 'VALIDATION_FAILED', /name/);
      });

      it('creates rooms inside an existing site and lists them per site', async () => {
        await seed();
        await rejectsWith(reg.createRoom({ id: 'room-9', siteId: 'nope', name: 'x', beds: 1 }), 'NOT_FOUND', /site/);
        await rejectsWith(reg.createRoom({ id: 'room-1', siteId: 'site-b', name: 'x', beds: 1 }), 'CONFLICT');
        await rejectsWith(reg.createRoom({ id: 'room-9', siteId: 'site-a', name: 'x', beds: -1 }), 'VALIDATION_FAILED', /beds/);
        expect((await reg.listRooms()).map((r) => r.id)).toEqual(['room-1', 'room-2']);
        expect(await reg.listRooms('site-b')).toEqual([expect.objectContaining({ id: 'room-2', siteId: 'site-b', beds: 0 })]);
        expect(await reg.listRooms('nope')).toEqual([]);
      });
    });

    describe('vendors', () => {
      it('creates, gets, lists and refuses duplicates', async () => {
        const v = await reg.createVendor({ id: 'aqua', name: 'AquaScale' });
        expect(await reg.getVendor('aqua')).toEqual(v);
        expect(await reg.getVendor('nope')).toBeUndefined();
        expect(await reg.listVendors()).toEqual([v]);
        await rejectsWith(reg.createVendor({ id: 'aqua', name: 'x' }), 'CONFLICT');
      });
    });

    describe('devices', () => {
      it('returns a secret once, stores only its hash, and the directory answers at once', async () => {
        await seed();
        const { device, secret } = await reg.createDevice({
          id: 'AQ-1',
          vendorId: 'aqua',
          profileId: 'aquascale',
          siteId: 'site-a',
          roomId: 'room-1',
          label: 'scale',
        });
        expect(device).toMatchObject({
          id: 'AQ-1',
          vendorId: 'aqua',
          profileId: 'aquascale',
          siteId: 'site-a',
          roomId: 'room-1',
          label: 'scale',
          active: true,
        });
        expect(secret.length).toBeGreaterThanOrEqual(40);
        const got = await reg.getDevice('AQ-1');
        expect(got).toEqual(device);
        expect(JSON.stringify(got)).not.toContain(secret);
        expect(Object.keys(got!)).not.toContain('secretHash');

        const creds = await reg.directory.credentials('AQ-1');
        expect(creds).toMatchObject({ deviceId: 'AQ-1', profileId: 'aquascale', active: true });
        expect(creds!.secretHash).not.toContain(secret);
        expect(await verifySecret(secret, creds!.secretHash)).toBe(true);
        expect(reg.directory.profileOf('AQ-1')).toBe('aquascale');
        expect(reg.directory.attribution('AQ-1', Date.now())).toEqual({ siteId: 'site-a', roomId: 'room-1', trialId: null, participantId: null });
        expect(await reg.directory.credentials('nope')).toBeUndefined();
        expect(reg.directory.profileOf('nope')).toBeUndefined();
        expect(reg.directory.attribution('nope', 0)).toEqual({ siteId: null, roomId: null, trialId: null, participantId: null });
      });

      it('checks the vendor, profile, site and room', async () => {
        await seed();
        const base = { id: 'D-1', vendorId: 'aqua', profileId: 'aquascale' };
        await rejectsWith(reg.createDevice({ ...base, vendorId: 'nope' }), 'VALIDATION_FAILED', /vendorId/);
        await rejectsWith(reg.createDevice({ ...base, profileId: 'toaster' }), 'VALIDATION_FAILED', /profileId/);
        await rejectsWith(reg.createDevice({ ...base, siteId: 'nope' }), 'VALIDATION_FAILED', /siteId/);
        await rejectsWith(reg.createDevice({ ...base, roomId: 'nope' }), 'VALIDATION_FAILED', /roomId/);
        await rejectsWith(reg.createDevice({ ...base, siteId: 'site-a', roomId: 'room-2' }), 'VALIDATION_FAILED', /roomId/);
        await rejectsWith(reg.createDevice({ ...base, id: 'has space' }), 'VALIDATION_FAILED', /^id:/);
        expect(await reg.listDevices()).toEqual([]);
        expect(await reg.directory.credentials('D-1')).toBeUndefined();
      });

      it('places a device by its room alone, or nowhere', async () => {
        await seed();
        const { device } = await reg.createDevice({ id: 'D-1', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-2' });
        expect(device).toMatchObject({ siteId: 'site-b', roomId: 'room-2' });
        const { device: loose } = await reg.createDevice({ id: 'D-2', vendorId: 'aqua', profileId: 'aquascale' });
        expect(loose).toMatchObject({ siteId: null, roomId: null, label: '' });
      });

      it('refuses a duplicate id', async () => {
        await seed();
        await reg.createDevice({ id: 'D-1', vendorId: 'aqua', profileId: 'aquascale' });
        await rejectsWith(reg.createDevice({ id: 'D-1', vendorId: 'bed', profileId: 'bedwatch-senml' }), 'CONFLICT');
        expect(reg.directory.profileOf('D-1')).toBe('aquascale');
      });

      it('rotates the secret: the old one stops working at once', async () => {
        await seed();
        const { secret: old } = await reg.createDevice({ id: 'D-1', vendorId: 'aqua', profileId: 'aquascale' });
        const fresh = await reg.rotateDeviceSecret('D-1');
        expect(fresh).not.toBe(old);
        const { secretHash } = (await reg.directory.credentials('D-1'))!;
        expect(await verifySecret(fresh, secretHash)).toBe(true);
        expect(await verifySecret(old, secretHash)).toBe(false);
        await rejectsWith(reg.rotateDeviceSecret('nope'), 'NOT_FOUND');
      });

      it('deactivates and reactivates, and the directory follows', async () => {
        await seed();
        await reg.createDevice({ id: 'D-1', vendorId: 'aqua', profileId: 'aquascale' });
        expect(await reg.setDeviceActive('D-1', false)).toMatchObject({ id: 'D-1', active: false });
        expect((await reg.directory.credentials('D-1'))!.active).toBe(false);
        expect((await reg.getDevice('D-1'))!.active).toBe(false);
        await reg.setDeviceActive('D-1', true);
        expect((await reg.directory.credentials('D-1'))!.active).toBe(true);
        await rejectsWith(reg.setDeviceActive('nope', false), 'NOT_FOUND');
      });

      it('lists by vendor and by site', async () => {
        await seed();
        await reg.createDevice({ id: 'D-2', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
        await reg.createDevice({ id: 'D-1', vendorId: 'bed', profileId: 'bedwatch-senml', siteId: 'site-a' });
        await reg.createDevice({ id: 'D-3', vendorId: 'bed', profileId: 'bedwatch-senml', siteId: 'site-b' });
        const ids = async (f?: { vendorId?: string; siteId?: string }) => (await reg.listDevices(f)).map((d) => d.id);
        expect(await ids()).toEqual(['D-1', 'D-2', 'D-3']);
        expect(await ids({ vendorId: 'bed' })).toEqual(['D-1', 'D-3']);
        expect(await ids({ siteId: 'site-a' })).toEqual(['D-1', 'D-2']);
        expect(await ids({ vendorId: 'bed', siteId: 'site-a' })).toEqual(['D-1']);
      });
    });

    describe('tokens', () => {
      it('issues a token that verifies to its principal, per role', async () => {
        await seed();
        const now = Date.now();
        const admin = await reg.issueToken({ role: 'admin', label: 'ops', expiresAt: null });
        const vendor = await reg.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'aqua', expiresAt: null });
        const clinician = await reg.issueToken({ role: 'clinician', siteIds: ['site-a', 'site-a'], label: 'nurse', expiresAt: null });
        const researcher = await reg.issueToken({ role: 'researcher', trialIds: ['trial-1'], label: 'study', expiresAt: null });
        expect(await reg.verifyToken(admin.token, now)).toEqual({ role: 'admin', tokenId: admin.id });
        expect(await reg.verifyToken(vendor.token, now)).toEqual({ role: 'vendor', tokenId: vendor.id, vendorId: 'aqua' });
        expect(await reg.verifyToken(clinician.token, now)).toEqual({ role: 'clinician', tokenId: clinician.id, siteIds: ['site-a'] });
        expect(await reg.verifyToken(researcher.token, now)).toEqual({ role: 'researcher', tokenId: researcher.id, trialIds: ['trial-1'] });
        expect(await reg.verifyToken('not-a-token', now)).toBeUndefined();
        expect(await reg.verifyToken('', now)).toBeUndefined();
      });

      it('binds each role to exactly its own scope', async () => {
        await seed();
        const t = (p: object) => reg.issueToken({ label: 'x', expiresAt: null, ...p } as Parameters<TokenRegistry['issueToken']>[0]);
        await rejectsWith(t({ role: 'vendor' }), 'VALIDATION_FAILED', /vendorId/);
        await rejectsWith(t({ role: 'vendor', vendorId: 'nope' }), 'VALIDATION_FAILED', /vendorId/);
        await rejectsWith(t({ role: 'admin', vendorId: 'aqua' }), 'VALIDATION_FAILED', /vendorId/);
        await rejectsWith(t({ role: 'clinician', siteIds: [] }), 'VALIDATION_FAILED', /siteIds/);
        await rejectsWith(t({ role: 'clinician', siteIds: ['nope'] }), 'VALIDATION_FAILED', /siteIds/);
        await rejectsWith(t({ role: 'researcher' }), 'VALIDATION_FAILED', /trialIds/);
        await rejectsWith(t({ role: 'researcher', trialIds: ['trial-nope'] }), 'VALIDATION_FAILED', /trialIds/);
        await rejectsWith(t({ role: 'root' }), 'VALIDATION_FAILED', /role/);
        await rejectsWith(t({ role: 'admin', expiresAt: Date.now() - 1 }), 'VALIDATION_FAILED', /expiresAt/);
        expect(await reg.listTokens()).toEqual([]);
      });

      it('stops verifying at expiry and after revocation', async () => {
        const issuedAt = Date.now();
        const expiresAt = issuedAt + 60_000;
        const t = await reg.issueToken({ role: 'admin', label: 'short', expiresAt });
        expect(await reg.verifyToken(t.token, expiresAt - 1)).toBeDefined();
        expect(await reg.verifyToken(t.token, expiresAt)).toBeUndefined();

        const r = await reg.issueToken({ role: 'admin', label: 'revoked', expiresAt: null });
        await reg.revokeToken(r.id);
        expect(await reg.verifyToken(r.token, Date.now())).toBeUndefined();
        await reg.revokeToken(r.id); // again: a no-op
        await rejectsWith(reg.revokeToken('tok-nope'), 'NOT_FOUND');
      });

      it('lists tokens without their values or digests', async () => {
        await seed();
        const t = await reg.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'aqua ci', expiresAt: null });
        await reg.revokeToken(t.id);
        const listed = await reg.listTokens();
        expect(listed).toEqual([
          expect.objectContaining({ id: t.id, role: 'vendor', vendorId: 'aqua', label: 'aqua ci', expiresAt: null, siteIds: [], trialIds: [] }),
        ]);
        expect(typeof listed[0]!.revokedAt).toBe('number');
        const text = JSON.stringify(listed);
        expect(text).not.toContain(t.token);
        expect(text).not.toMatch(/digest/i);
      });

      it('knows whether a usable admin token exists', async () => {
        await seed();
        expect(await reg.hasAdminToken()).toBe(false);
        await reg.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'v', expiresAt: null });
        expect(await reg.hasAdminToken()).toBe(false);
        // Expiry itself is covered by "stops verifying at expiry"; here no timing race.
        const soon = await reg.issueToken({ role: 'admin', label: 'an hour', expiresAt: Date.now() + 3_600_000 });
        expect(await reg.hasAdminToken()).toBe(true);
        await reg.revokeToken(soon.id);
        expect(await reg.hasAdminToken()).toBe(false);
        const a = await reg.issueToken({ role: 'admin', label: 'a', expiresAt: null });
        expect(await reg.hasAdminToken()).toBe(true);
        await reg.revokeToken(a.id);
        expect(await reg.hasAdminToken()).toBe(false);
      });
    });

    describe('trials', () => {
      it('keep an intervention start inside the period and after the baseline, and read it back', async () => {
        await seed();
        const D = 86_400_000;
        const base = {
          name: 'T',
          siteId: 'site-a',
          vendorIds: ['aqua'],
          protocolRef: 'REK',
          period: { from: 0, to: 30 * D },
          baseline: { from: 0, to: 7 * D },
        };
        const t = await reg.createTrial({ ...base, id: 'trial-iv', interventionFrom: 9 * D });
        expect(t.interventionFrom).toBe(9 * D);
        expect((await reg.getTrial('trial-iv'))!.interventionFrom).toBe(9 * D);
        expect((await reg.getTrial('trial-1'))!.interventionFrom).toBeNull();
        await rejectsWith(reg.createTrial({ ...base, id: 'trial-x', interventionFrom: 6 * D }), 'VALIDATION_FAILED', /intervention/);
        await rejectsWith(reg.createTrial({ ...base, id: 'trial-y', interventionFrom: 31 * D }), 'VALIDATION_FAILED', /intervention/);
      });
    });

    describe('reload', () => {
      const world = async () => {
        await seed();
        const { secret } = await reg.createDevice({ id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1' });
        await reg.enrolParticipant({ id: 'P-1', trialId: 'trial-1' });
        await reg.createAssignment({ trialId: 'trial-1', deviceId: 'AQ-1', participantId: 'P-1', roomId: 'room-1', bed: 1, from: 1_000 });
        const token = await reg.issueToken({ role: 'vendor', vendorId: 'aqua', label: 'aqua', expiresAt: null });
        const revoked = await reg.issueToken({ role: 'admin', label: 'gone', expiresAt: null });
        await reg.revokeToken(revoked.id);
        return { secret, token, revoked };
      };

      it('reads the same read side back, into the objects callers already hold', async () => {
        const { secret, token, revoked } = await world();
        const directory = reg.directory;
        await reg.reload();
        expect(reg.directory).toBe(directory);
        const creds = await directory.credentials('AQ-1');
        expect(creds).toMatchObject({ profileId: 'aquascale', active: true });
        expect(await verifySecret(secret, creds!.secretHash)).toBe(true);
        expect(directory.profileOf('AQ-1')).toBe('aquascale');
        expect(directory.attribution('AQ-1', 5_000)).toEqual({ siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1', participantId: 'P-1' });
        expect(directory.attribution('AQ-1', 500)).toEqual({ siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1', participantId: null });
        expect(await reg.verifyToken(token.token, Date.now())).toEqual({ role: 'vendor', tokenId: token.id, vendorId: 'aqua' });
        expect(await reg.verifyToken(revoked.token, Date.now())).toBeUndefined();
        expect(await reg.hasAdminToken()).toBe(false);
      });

      it('loses no write that races reloads, and concurrent reloads all settle', async () => {
        await world();
        const writes = async () => {
          await reg.createDevice({ id: 'AQ-2', vendorId: 'aqua', profileId: 'aquascale', siteId: 'site-a' });
          await reg.setDeviceActive('AQ-1', false);
          const t = await reg.issueToken({ role: 'admin', label: 'ops', expiresAt: null });
          await reg.createTrial({
            id: 'trial-2',
            name: 'Trial 2',
            siteId: 'site-a',
            vendorIds: ['aqua'],
            protocolRef: 'REK 2',
            period: { from: 100_000_000, to: 200_000_000 },
          });
          return t;
        };
        const reloads = async () => {
          for (let i = 0; i < 6; i++) await Promise.all([reg.reload(), reg.reload()]);
        };
        const [admin] = await Promise.all([writes(), reloads(), reg.reload()]);
        expect(await reg.directory.credentials('AQ-2')).toMatchObject({ active: true });
        expect((await reg.directory.credentials('AQ-1'))!.active).toBe(false);
        expect(await reg.verifyToken(admin.token, Date.now())).toMatchObject({ role: 'admin' });
        expect(reg.directory.attribution('AQ-2', 150_000_000)).toMatchObject({ trialId: 'trial-2', participantId: null });
        await reg.reload();
        expect(await reg.directory.credentials('AQ-2')).toBeDefined();
        expect(await reg.hasAdminToken()).toBe(true);
      });
    });
  });
}
