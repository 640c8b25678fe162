import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shippedCatalogue } from '../../device-profiles/catalogue.js';
import { loadProfiles, parseProfile } from '../../device-profiles/load.js';
import { loadIngestConfig } from '../../ingest/config.js';
import type { ProfileCatalog } from '../../device-profiles/versions.js';
import { openProfileCatalog, seedFromFolder } from '../../stores/sql/profile-versions.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { BROKEN, flowpatch } from './flowpatch.js';

const limits = loadIngestConfig({}).limits;
const catalogue = shippedCatalogue();
const by = { source: 'api' as const, tokenId: 'tok-1' };

/**
 * The profile-version registry's contract, run against every SqlClient the hub has
 * (DuckDB file, PostgreSQL). `database()` answers a fresh, empty database and a way to
 * open another client on the same one (another process of the split layout).
 */
export function profileCatalogContract(name: string, database: () => Promise<() => Promise<SqlClient>>): void {
  describe(`profile versions on ${name}`, () => {
    const open: SqlClient[] = [];
    afterAll(async () => {
      for (const sql of open.splice(0)) await sql.close();
    });
    const fresh = async (): Promise<{ catalog: ProfileCatalog; again: () => Promise<ProfileCatalog> }> => {
      const client = await database();
      const first = await client();
      open.push(first);
      return {
        catalog: await openProfileCatalog(first, { limits, catalogue }),
        again: async () => {
          const sql = await client();
          open.push(sql);
          return openProfileCatalog(sql, { limits, catalogue });
        },
      };
    };

    it('reports every problem of an invalid profile with its path, and stores nothing', async () => {
      const { catalog } = await fresh();
      const checked = catalog.check(BROKEN);
      expect(checked.ok).toBe(false);
      const issues = checked.ok ? [] : checked.issues;
      expect(issues.map((i) => i.path).sort()).toEqual(['family', 'readings[0].measurement', 'time', 'version']);
      for (const i of issues) expect(i.message).not.toBe('');
      await expect(catalog.publish(BROKEN, by)).rejects.toMatchObject({ code: 'PROFILE_INVALID', issues });
      expect(await catalog.listVersions('flowpatch')).toEqual([]);

      const syntax = catalog.check('id: [flowpatch\nversion: 1.0.0\n');
      expect(syntax.ok).toBe(false);
      expect(syntax.ok ? '' : syntax.issues[0]!.message).toMatch(/line \d+/);
    });

    it('keeps every version, answers the highest as the latest, and takes the same text again as no change', async () => {
      const { catalog } = await fresh();
      expect(catalog.get('flowpatch')).toBeUndefined();
      const first = await catalog.publish(flowpatch('1.0.0'), by);
      expect(first).toMatchObject({ created: true, info: { profileId: 'flowpatch', version: '1.0.0', source: 'api', publishedBy: 'tok-1' } });
      expect(catalog.get('flowpatch')?.profile.version).toBe('1.0.0');
      const decodersBefore = catalog.decoders;

      expect((await catalog.publish(flowpatch('1.1.0'), by)).created).toBe(true);
      expect(catalog.get('flowpatch')?.profile.version).toBe('1.1.0');
      // A new map, so that readers holding derived data (the broker's topics) rebuild it.
      expect(catalog.decoders).not.toBe(decodersBefore);
      expect(catalog.version('flowpatch', '1.0.0')?.profile.readings?.[0]?.unit).toBe('mL');

      expect(await catalog.publish(flowpatch('1.1.0'), by)).toMatchObject({ created: false, info: { version: '1.1.0' } });
      expect((await catalog.listVersions('flowpatch')).map((v) => v.version)).toEqual(['1.0.0', '1.1.0']);
      expect(await catalog.yamlOf('flowpatch', '1.0.0')).toBe(flowpatch('1.0.0'));
      expect(await catalog.yamlOf('flowpatch', '9.9.9')).toBeUndefined();
    });

    it('refuses other text under a published version', async () => {
      const { catalog } = await fresh();
      await catalog.publish(flowpatch('1.0.0'), by);
      const changed = flowpatch('1.0.0').replace('unit: mL', 'unit: L');
      await expect(catalog.publish(changed, by)).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(await catalog.yamlOf('flowpatch', '1.0.0')).toBe(flowpatch('1.0.0'));
      expect(catalog.version('flowpatch', '1.0.0')?.profile.readings?.[0]?.unit).toBe('mL');
    });

    it('decodes a pinned device with its version and the others with the latest', async () => {
      const { catalog } = await fresh();
      await catalog.publish(flowpatch('1.0.0'), by);
      await catalog.publish(flowpatch('1.1.0'), by);
      await catalog.pin('FP-PINNED', 'flowpatch', '1.0.0');
      expect(catalog.forDevice('FP-PINNED', 'flowpatch')?.profile.version).toBe('1.0.0');
      expect(catalog.forDevice('FP-FREE', 'flowpatch')?.profile.version).toBe('1.1.0');
      await expect(catalog.pin('FP-PINNED', 'flowpatch', '2.0.0')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(catalog.pinOf('FP-PINNED')).toEqual({ profileId: 'flowpatch', version: '1.0.0' });
      await catalog.pin('FP-PINNED', 'flowpatch', '1.1.0');
      expect(catalog.pinOf('FP-PINNED')?.version).toBe('1.1.0');
      await catalog.pin('FP-PINNED', 'flowpatch', null);
      expect(catalog.pinOf('FP-PINNED')).toBeUndefined();
      expect(catalog.forDevice('FP-PINNED', 'flowpatch')?.profile.version).toBe('1.1.0');
    });

    it("sees another process's versions and pins after reload", async () => {
      const { catalog, again } = await fresh();
      const other = await again();
      await catalog.publish(flowpatch('1.0.0'), by);
      await catalog.pin('FP-1', 'flowpatch', '1.0.0');
      expect(other.get('flowpatch')).toBeUndefined();
      await other.reload();
      expect(other.get('flowpatch')?.profile.version).toBe('1.0.0');
      expect(other.forDevice('FP-1', 'flowpatch')?.profile.version).toBe('1.0.0');
      await other.publish(flowpatch('1.1.0'), by);
      await catalog.reload();
      expect(catalog.get('flowpatch')?.profile.version).toBe('1.1.0');
    });

    it('skips a stored version that no longer loads, says so once, and keeps the others', async () => {
      const client = await database();
      const sql = await client();
      open.push(sql);
      const skipped: string[] = [];
      const catalog = await openProfileCatalog(sql, {
        limits,
        catalogue,
        onSkipped: (id, version, issues) => skipped.push(`${id}@${version}: ${issues[0]?.path}`),
      });
      await catalog.publish(flowpatch('1.0.0'), by);
      // As if the measurement catalogue had lost an entry this stored text uses.
      const stale = flowpatch('1.1.0').replace('fluid_intake', 'retired_measurement');
      await sql.query('INSERT INTO profile_versions (profile_id, version, yaml, source, published_at, published_by) VALUES ($1, $2, $3, $4, $5, $6)', [
        'flowpatch',
        '1.1.0',
        stale,
        'api',
        1,
        null,
      ]);
      await catalog.reload();
      await catalog.reload();
      expect(skipped).toEqual(['flowpatch@1.1.0: readings[0].measurement']);
      expect(catalog.get('flowpatch')?.profile.version).toBe('1.0.0');
    });

    it('stores the folder as versions once, and keeps a published version over a changed folder file', async () => {
      const { catalog, again } = await fresh();
      const dir = mkdtempSync(join(tmpdir(), 'profiles-seed-'));
      try {
        cpSync('device-profiles/profiles', dir, { recursive: true });
        const seeded = await seedFromFolder(catalog, loadProfiles(dir, limits).decoders.values());
        expect(seeded.added).toContain('aquascale@1.0.0');
        expect(seeded.differing).toEqual([]);
        // The stored text loads as the folder's file does.
        const stored = await catalog.yamlOf('aquascale', '1.0.0');
        expect(parseProfile(stored!, 'stored', limits).profile).toEqual(
          parseProfile(readFileSync(join(dir, 'aquascale', 'profile.yaml'), 'utf8'), 'file', limits).profile,
        );
        expect(catalog.get('aquascale')?.profile.version).toBe('1.0.0');
        expect((await catalog.listVersions('aquascale'))[0]?.source).toBe('folder');

        const f = join(dir, 'aquascale', 'profile.yaml');
        writeFileSync(f, readFileSync(f, 'utf8').replace('offlineAfter: 2', 'offlineAfter: 5'));
        const other = await again();
        expect(await seedFromFolder(other, loadProfiles(dir, limits).decoders.values())).toEqual({ added: [], differing: ['aquascale@1.0.0'] });
        expect(other.get('aquascale')?.profile.alarms?.offlineAfter).toBe(2);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
