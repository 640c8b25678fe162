import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DIST } from './config.js';
import { loadHubConfig } from '../hub/config.js';
import { loadIngestConfig } from '../ingest/config.js';
import { loadProfiles } from '../device-profiles/load.js';
import { openDuckDbSqlClient } from '../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../stores/sql/registry.js';
import type { SimDevice } from './load/generator.js';
import { PROFILE_ID } from './load/payloads.js';

/**
 * The layout: a ward of WARD_DEVICES devices, watched by the clinician's ward board,
 * and the rest of the arena (all other devices) in a second site. The board's live
 * stream carries one ward's traffic, as in a hospital, while the hub carries everyone's.
 */
export const WARD_SITE = 'bench-ward';
export const WARD_DEVICES = 20;
const WARD_ROOM = 'bench-ward-room';
const ARENA_SITE = 'bench-site';
const ARENA_ROOM = 'bench-room';
const BENCH_VENDOR = 'bench-vendor';
/** Part of the cache key: bump when the layout above changes. */
const LAYOUT_VERSION = 2;

export const deviceIdOf = (i: number): string => `BENCH-${String(i).padStart(5, '0')}`;

export interface SeededRegistry {
  readonly devices: readonly SimDevice[];
  readonly clinicianToken: string;
  readonly seconds: number;
  /** Copied from an earlier run's registry (same device count and migrations). */
  readonly cached: boolean;
}

const REGISTRY_FILE = 'registry.duckdb';
const FLEET_FILE = 'fleet.json';

/**
 * The hub's registry with `count` bench devices in `dataDir`. Building it costs one
 * scrypt hash per device (1,000 devices: 20-80 s on 2 cores), so the built registry and
 * the devices' secrets are kept under `cacheRoot` (in data/, gitignored, mode 600) and
 * copied on later runs. The cache key holds the registry migrations' hash: a schema
 * change rebuilds it. The hub still checks every CONNECT with scrypt.
 */
export async function preparedRegistry(dataDir: string, count: number, cacheRoot: string): Promise<SeededRegistry> {
  const started = performance.now();
  const migrations = join(DIST, 'stores/sql/migrations.js');
  const version = existsSync(migrations) ? createHash('sha256').update(readFileSync(migrations)).digest('hex').slice(0, 12) : 'unknown';
  const cacheDir = join(cacheRoot, `registry-${count}-v${LAYOUT_VERSION}-${version}`);
  const cached = existsSync(join(cacheDir, FLEET_FILE));
  if (!cached) {
    mkdirSync(cacheRoot, { recursive: true });
    for (const old of readdirSync(cacheRoot)) if (old.startsWith('registry-')) rmSync(join(cacheRoot, old), { recursive: true, force: true });
    const building = `${cacheDir}.building`;
    mkdirSync(building, { recursive: true });
    const seeded = await seedRegistry(building, count);
    writeFileSync(join(building, FLEET_FILE), JSON.stringify({ devices: seeded.devices, clinicianToken: seeded.clinicianToken }), { mode: 0o600 });
    renameSync(building, cacheDir);
  }
  for (const f of readdirSync(cacheDir)) if (f.startsWith(REGISTRY_FILE)) copyFileSync(join(cacheDir, f), join(dataDir, f));
  const fleet = JSON.parse(readFileSync(join(cacheDir, FLEET_FILE), 'utf8')) as { devices: SimDevice[]; clinicianToken: string };
  return { ...fleet, seconds: (performance.now() - started) / 1000, cached };
}

/**
 * Registers the bench's devices in the hub's registry file before the hub starts (DuckDB
 * allows one process per file), through the registry itself: each device costs one
 * scrypt hash, so they are created `concurrency` at a time on libuv's thread pool.
 */
async function seedRegistry(dataDir: string, count: number, concurrency = 8): Promise<Omit<SeededRegistry, 'cached'>> {
  const started = performance.now();
  const hubConfig = loadHubConfig({ ARENA_DATA_DIR: dataDir });
  const profiles = loadProfiles(hubConfig.profilesDir, loadIngestConfig({}).limits);
  const registry = await openSqlRegistry(await openDuckDbSqlClient(join(hubConfig.dataDir, REGISTRY_FILE)), { profiles });
  try {
    await registry.createVendor({ id: BENCH_VENDOR, name: 'Bench vendor' });
    await registry.createSite({ id: WARD_SITE, name: 'Bench ward', kind: 'patient-room' });
    await registry.createRoom({ id: WARD_ROOM, siteId: WARD_SITE, name: 'Bench ward room', beds: WARD_DEVICES });
    await registry.createSite({ id: ARENA_SITE, name: 'Bench arena', kind: 'other' });
    await registry.createRoom({ id: ARENA_ROOM, siteId: ARENA_SITE, name: 'Bench room', beds: 0 });
    const devices: SimDevice[] = new Array(count);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        const roomId = i < WARD_DEVICES ? WARD_ROOM : ARENA_ROOM;
        const { device, secret } = await registry.createDevice({ id: deviceIdOf(i), vendorId: BENCH_VENDOR, profileId: PROFILE_ID, roomId });
        devices[i] = { id: device.id, secret };
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    const { token } = await registry.issueToken({ role: 'clinician', siteIds: [WARD_SITE], label: 'bench ward board', expiresAt: null });
    return { devices, clinicianToken: token, seconds: (performance.now() - started) / 1000 };
  } finally {
    await registry.close();
  }
}
