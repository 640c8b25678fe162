import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildApp, type ApiDeps } from '../../api/app.js';
import { loadProfiles } from '../../device-profiles/load.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Registry } from '../../kernel/registry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import type { HubEvent, Reading, Rejection } from '../../kernel/telemetry.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';

/** Device time of the seeded data: readings at T0 + i minutes. */
export const T0 = Date.parse('2025-03-01T08:00:00Z');
const MIN = 60_000;

export interface ApiFixture {
  readonly app: FastifyInstance;
  readonly registry: Registry & TokenRegistry;
  readonly store: TelemetryStore;
  /** One bearer token per principal kind. */
  readonly tokens: { admin: string; vendorA: string; vendorB: string; clinician: string; researcher: string };
  /** Makes the store's ping fail (readiness) until set back. */
  failPing: boolean;
  call(opts: InjectOptions & { token?: string | null }): Promise<LightMyRequestResponse>;
  dispose(): Promise<void>;
}

/**
 * The API on a real DuckDB registry and the real DuckDB telemetry store in a temp folder,
 * seeded with two vendors whose devices share a room, and data attributed to a trial
 * participant so that leaks of attribution would show.
 */
export async function startApi(extra: Partial<ApiDeps> = {}): Promise<ApiFixture> {
  const dir = mkdtempSync(join(tmpdir(), 'arena-api-'));
  const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * 86_400_000, maxFutureMs: 60_000 });
  const registry = await openSqlRegistry(await openDuckDbSqlClient(join(dir, 'registry.duckdb')), { profiles });
  const realStore = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });

  const fixture = { failPing: false } as ApiFixture;
  // Delegates to the real store; only ping can be made to fail.
  const store: TelemetryStore = {
    write: (b) => realStore.write(b),
    points: (q) => realStore.points(q),
    aggregate: (q) => realStore.aggregate(q),
    rejections: (q) => realStore.rejections(q),
    rejectionCounts: (q) => realStore.rejectionCounts(q),
    eraseParticipant: (id) => realStore.eraseParticipant(id),
    indicatorCounts: (q) => realStore.indicatorCounts!(q),
    ping: () => (fixture.failPing ? Promise.reject(new Error('disk /secret/path gone')) : realStore.ping()),
    close: () => realStore.close(),
  };

  await registry.createSite({ id: 'site-a', name: 'Ward A', kind: 'patient-room' });
  await registry.createRoom({ id: 'room-1', siteId: 'site-a', name: 'Room 1', beds: 1 });
  await registry.createVendor({ id: 'vendor-a', name: 'AquaScale' });
  await registry.createVendor({ id: 'vendor-b', name: 'BedWatch' });
  await registry.createDevice({ id: 'AQ-1', vendorId: 'vendor-a', profileId: 'aquascale', roomId: 'room-1' });
  await registry.createDevice({ id: 'BW-1', vendorId: 'vendor-b', profileId: 'bedwatch-senml', roomId: 'room-1' });
  // The seeded points are about p-007 of trial-1, who lets vendors see their telemetry (and researchers their data).
  await registry.createTrial({
    id: 'trial-1',
    name: 'Trial 1',
    siteId: 'site-a',
    vendorIds: ['vendor-a', 'vendor-b'],
    protocolRef: 'REK 2025/1',
    period: { from: T0 - 86_400_000, to: T0 + 30 * 86_400_000 },
  });
  await registry.enrolParticipant({ id: 'p-007', trialId: 'trial-1' });
  for (const scope of ['vendor.telemetry', 'research'] as const)
    await registry.grantConsent({ participantId: 'p-007', scope, grantedAt: T0 - 3_600_000, formVersion: 'v1' });
  await seedTelemetry(store);

  const issue = async (p: Parameters<TokenRegistry['issueToken']>[0]) => (await registry.issueToken(p)).token;
  const tokens = {
    admin: await issue({ role: 'admin', label: 'admin', expiresAt: null }),
    vendorA: await issue({ role: 'vendor', vendorId: 'vendor-a', label: 'a', expiresAt: null }),
    vendorB: await issue({ role: 'vendor', vendorId: 'vendor-b', label: 'b', expiresAt: null }),
    clinician: await issue({ role: 'clinician', siteIds: ['site-a'], label: 'nurse', expiresAt: null }),
    researcher: await issue({ role: 'researcher', trialIds: ['trial-1'], label: 'study', expiresAt: null }),
  };

  const app = await buildApp({ registry, store, profiles, logger: createLogger('silent'), ...extra });
  return Object.assign(fixture, {
    app,
    registry,
    store,
    tokens,
    call: ({ token, ...opts }: InjectOptions & { token?: string | null }) =>
      app.inject({ ...opts, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...opts.headers } }),
    async dispose() {
      await app.close();
      await store.close();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  });
}

const attributed = { siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1', participantId: 'p-007' };

/** Five weight readings and one intake (AQ-1), two bed events (BW-1), rejections for both. */
async function seedTelemetry(store: TelemetryStore): Promise<void> {
  const readings: Reading[] = [0, 1, 2, 3, 4].map((i) => ({
    kind: 'reading',
    messageId: 2n ** 63n + BigInt(i), // above 2^53: survives only as a string
    seq: 0,
    deviceId: 'AQ-1',
    profileId: 'aquascale',
    family: 'fluid-balance',
    ...attributed,
    name: 'body_weight',
    deviceTime: T0 + i * MIN,
    receivedAt: T0 + i * MIN + 500,
    clockSkewed: false,
    value: 70 + i,
    unit: 'kg',
  }));
  const intake: Reading = { ...readings[0]!, messageId: 77n, name: 'fluid_intake', value: 0.25, unit: 'L', deviceTime: T0 + 10 * MIN };
  const events: HubEvent[] = [0, 1].map((i) => ({
    kind: 'event',
    messageId: 500n + BigInt(i),
    seq: 0,
    deviceId: 'BW-1',
    profileId: 'bedwatch-senml',
    family: 'fall-sensor',
    ...attributed,
    name: 'left_bed',
    deviceTime: T0 + i * MIN,
    receivedAt: T0 + i * MIN + 200,
    clockSkewed: i === 1,
    alertCode: '4.2',
    dispenseCode: null,
    severity: 20,
    attributes: { zone: 'bed' },
  }));
  const rejection = (id: bigint, deviceId: string, code: Rejection['code'], at: number): Rejection => ({
    messageId: id,
    deviceId,
    profileId: deviceId === 'AQ-1' ? 'aquascale' : 'bedwatch-senml',
    siteId: null,
    roomId: null,
    trialId: null,
    participantId: null,
    topic: `devices/${deviceId}/x`,
    code,
    path: '',
    message: `${code} happened`,
    payload: '{"bad":',
    receivedAt: at,
  });
  const rejections = [
    rejection(900n, 'AQ-1', 'PAYLOAD_NOT_JSON', T0 + 1 * MIN),
    rejection(901n, 'AQ-1', 'PAYLOAD_NOT_JSON', T0 + 2 * MIN),
    rejection(902n, 'AQ-1', 'UNIT_UNKNOWN', T0 + 3 * MIN),
    rejection(903n, 'BW-1', 'SENML_INVALID', T0 + 1 * MIN),
  ];
  const all = [...readings, intake, ...events];
  const messages = [...all, ...rejections].map((x) => ({ id: x.messageId, deviceId: x.deviceId, receivedAt: x.receivedAt }));
  await store.write({ messages, points: all, rejections });
}
