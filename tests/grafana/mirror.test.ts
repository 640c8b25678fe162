import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GrafanaMirror } from '../../kernel/ports.js';
import { openGrafanaMirror } from '../../stores/influx/grafana-mirror.js';
import { participantTags } from '../../stores/influx/participant-tag.js';
import { consentOf } from '../../api/routes/live-access.js';
import type { CommittedDelivery } from '../../kernel/committed-wire.js';
import { createLogger } from '../../kernel/log.js';
import type { Registry } from '../../kernel/registry.js';
import type { HubEvent, Point, Reading } from '../../kernel/telemetry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { ident } from '../../stores/influx/influxql.js';
import { QueryClient, type Row } from '../../stores/influx/query-client.js';
import { openInfluxTelemetryStore } from '../../stores/influx/telemetry-store.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { startApi } from '../api/fixture.js';
import { assertInfluxdInstalled, startInfluxd, type RunningInfluxd } from '../setup/influxdb.js';

const PARTICIPANT_KEY = Buffer.alloc(32, 7);

// No silent skip: without influxd this file fails and says how to get it.
assertInfluxdInstalled();

/**
 * Grafana's bucket (stores/influx/grafana-mirror.ts) on a real InfluxDB (1.6: a bucket is a
 * database), written through the v2-write bridge as on 2.x, with the consent rule read
 * from a real registry (DuckDB). Participant P1 holds care.live, P2 never did, P3 holds
 * it until erased.
 */
const H = 3_600_000;
const T = Date.parse('2025-03-01T08:00:00Z');
const DB = 'grafana';

let server: RunningInfluxd;
let dir: string;
let registry: Registry & TokenRegistry;
let mirror: GrafanaMirror;
let grafana: QueryClient;
/** The hub's own bucket, which refresh() copies from. */
let hub: TelemetryStore;
let p1Consent: string;

beforeAll(async () => {
  server = await startInfluxd('arena');
  await server.query(`CREATE DATABASE ${ident(DB)}`);
  dir = mkdtempSync(join(tmpdir(), 'arena-grafana-mirror-'));
  registry = await openSqlRegistry(await openDuckDbSqlClient(join(dir, 'registry.duckdb')), { profiles: contractProfiles() });
  await registry.createSite({ id: 'S', name: 'Ward', kind: 'patient-room' });
  await registry.createVendor({ id: 'VA', name: 'A' });
  await registry.createTrial({
    id: 'TR',
    name: 'Trial',
    siteId: 'S',
    vendorIds: ['VA'],
    protocolRef: 'REK 1',
    period: { from: T - 24 * H, to: T + 100 * 24 * H },
  });
  for (const id of ['P1', 'P2', 'P3']) await registry.enrolParticipant({ id, trialId: 'TR' });
  p1Consent = (await registry.grantConsent({ participantId: 'P1', scope: 'care.live', grantedAt: T - H, formVersion: 'v1' })).id;
  await registry.grantConsent({ participantId: 'P3', scope: 'care.live', grantedAt: T - H, formVersion: 'v1' });
  await registry.grantConsent({ participantId: 'P2', scope: 'research', grantedAt: T - H, formVersion: 'v1' });
  hub = await openInfluxTelemetryStore({
    participantKey: PARTICIPANT_KEY,
    url: server.v2url,
    token: 'test-token',
    org: 'arena',
    bucket: 'arena',
    database: 'arena',
    timeoutMs: 5_000,
  });
  mirror = openGrafanaMirror({
    url: server.v2url,
    token: 'test-token',
    org: 'arena',
    bucket: DB,
    database: DB,
    participantKey: PARTICIPANT_KEY,
    consent: consentOf(registry),
    source: hub,
    logger: createLogger('silent'),
  });
  grafana = new QueryClient({ url: server.url, token: 'test-token', database: DB, timeoutMs: 5_000 });
});
afterAll(async () => {
  await mirror?.close();
  await hub?.close();
  await registry?.close();
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

let nextId = 1n;
const base = (participantId: string | null, at: number) => ({
  messageId: nextId,
  seq: 0,
  deviceId: `dev-${participantId ?? 'none'}`,
  profileId: 'aquascale',
  family: 'fluid-balance' as const,
  siteId: 'S',
  roomId: 'R1',
  trialId: participantId ? 'TR' : null,
  participantId,
  deviceTime: at,
  receivedAt: at + 5,
  clockSkewed: false,
});
const reading = (participantId: string | null, name: string, value: number, at: number, seq = 0): Reading => ({
  ...base(participantId, at),
  seq,
  kind: 'reading',
  name,
  value,
  unit: '1',
});
const event = (participantId: string | null, name: string, at: number, seq = 0): HubEvent => ({
  ...base(participantId, at),
  seq,
  kind: 'event',
  name,
  alertCode: null,
  dispenseCode: null,
  severity: 20,
  attributes: {},
});
/** One committed message per call, as the commit feed hands them over. */
const delivery = (...points: Point[]): CommittedDelivery => ({ messageId: nextId++, points });

const rows = async (measurement: string): Promise<Row[]> => (await grafana.run([`SELECT * FROM ${ident(measurement)}`]))[0] ?? [];
/** The bucket holds participant tags, not ids (stores/influx/participant-tag.ts). */
const idOf = (r: Row): string | undefined => (typeof r.participant === 'string' ? participantTags(PARTICIPANT_KEY).decode(r.participant) : undefined);
const who = (r: Row): string => `${String(r.name)}:${idOf(r) ?? '-'}:${String(r.trial ?? '-')}`;
const readings = async (): Promise<string[]> => (await rows('reading')).map(who).sort();

describe("Grafana's bucket", () => {
  it("holds consented participants' data, device data and every device's health, without identifiers on health", async () => {
    const committed = [
      delivery(reading('P1', 'fluid_intake', 200, T), reading('P1', 'battery_level', 80, T, 1)),
      delivery(
        reading('P2', 'fluid_intake', 300, T + 1000),
        reading('P2', 'device_temperature', 31, T + 1000, 1),
        event('P2', 'jam', T + 1000, 2),
        event('P2', 'fall', T + 1000, 3),
      ),
      delivery(reading(null, 'fluid_intake', 50, T + 2000)),
      delivery(reading('P3', 'body_weight', 70, T + 3000)),
    ];
    await mirror.copy(committed);
    await mirror.copy(committed); // the persistent session delivers again: overwritten, not added

    expect(await readings()).toEqual(['battery_level:-:-', 'body_weight:P3:TR', 'device_temperature:-:-', 'fluid_intake:-:-', 'fluid_intake:P1:TR']);
    expect((await rows('event')).map(who)).toEqual(['jam:-:-']);
    const health = (await rows('reading')).filter((r) => r.name === 'battery_level' || r.name === 'device_temperature');
    expect(health.map((r) => [r.site, r.room, r.device])).toEqual([
      ['S', 'R1', 'dev-P1'],
      ['S', 'R1', 'dev-P2'],
    ]);
    // Every delivery leaves its marker, so "last seen" and "messages per hour" cover every device.
    expect((await rows('message')).map((r) => [r.device, r.status]).sort()).toEqual([
      ['dev-P1', 'accepted'],
      ['dev-P2', 'accepted'],
      ['dev-P3', 'accepted'],
      ['dev-none', 'accepted'],
    ]);
  });

  it("loses a participant's data when care.live is withdrawn, keeps their device's health, and copies nothing of theirs after", async () => {
    await registry.withdrawConsent(p1Consent, Date.now());
    await mirror.forget('P1');
    expect(await readings()).toEqual(['battery_level:-:-', 'body_weight:P3:TR', 'device_temperature:-:-', 'fluid_intake:-:-']);

    await mirror.copy([delivery(reading('P1', 'fluid_intake', 250, T + 4000), reading('P1', 'battery_level', 79, T + 4000, 1))]);
    expect((await rows('reading')).filter((r) => r.device === 'dev-P1').map(who)).toEqual(['battery_level:-:-', 'battery_level:-:-']);
  });

  it("copies from the hub's bucket what a grant dated back covers, and keeps what another record still covers", async () => {
    const before = reading('P2', 'fluid_intake', 310, T + 6000);
    const d = delivery(before);
    await hub.write({ messages: [{ id: d.messageId, deviceId: before.deviceId, receivedAt: before.receivedAt }], points: [before], rejections: [] });
    await mirror.copy([d]);
    expect((await readings()).filter((w) => w.includes('P2'))).toEqual([]);

    const first = await registry.grantConsent({ participantId: 'P2', scope: 'care.live', grantedAt: T, formVersion: 'v1' });
    await mirror.refresh('P2', 'TR');
    expect((await readings()).filter((w) => w.includes('P2'))).toEqual(['fluid_intake:P2:TR']);

    // A second record from T + 5 s still covers the reading when the first is withdrawn; withdrawing it too removes it.
    const second = await registry.grantConsent({ participantId: 'P2', scope: 'care.live', grantedAt: T + 5000, formVersion: 'v2' });
    await registry.withdrawConsent(first.id, Date.now());
    await mirror.refresh('P2', 'TR');
    expect((await readings()).filter((w) => w.includes('P2'))).toEqual(['fluid_intake:P2:TR']);
    await registry.withdrawConsent(second.id, Date.now());
    await mirror.refresh('P2', 'TR');
    expect((await readings()).filter((w) => w.includes('P2'))).toEqual([]);
  });

  it("loses an erased participant's data", async () => {
    await registry.markErased('P3', Date.now());
    await mirror.forget('P3');
    expect((await readings()).filter((w) => w.includes('P3'))).toEqual([]);
    // A commit of theirs still on its way (the session redelivers it) is not copied either.
    await mirror.copy([delivery(reading('P3', 'body_weight', 71, T + 5000))]);
    expect((await readings()).filter((w) => w.includes('P3'))).toEqual([]);
    expect(await readings()).toContain('fluid_intake:-:-');
  });
});

describe("the API keeps Grafana's bucket in step with care.live", () => {
  it('when an admin grants it dated back, withdraws it, and erases a participant', async () => {
    const db = 'grafana-api';
    await server.query(`CREATE DATABASE ${ident(db)}`);
    let viaApi: GrafanaMirror | undefined;
    const f = await startApi({ grafana: { forget: (id) => viaApi!.forget(id), refresh: (id, trial) => viaApi!.refresh(id, trial) } });
    viaApi = openGrafanaMirror({
      url: server.v2url,
      token: 'test-token',
      org: 'arena',
      bucket: db,
      database: db,
      participantKey: PARTICIPANT_KEY,
      consent: consentOf(f.registry),
      source: f.store,
      logger: createLogger('silent'),
    });
    const bucket = new QueryClient({ url: server.url, token: 'test-token', database: db, timeoutMs: 5_000 });
    const participants = async (): Promise<string[]> =>
      [...new Set(((await bucket.run([`SELECT * FROM "reading"`]))[0] ?? []).map((r) => String(idOf(r))))].sort();
    const admin = f.tokens.admin;
    try {
      await f.registry.enrolParticipant({ id: 'p-008', trialId: 'trial-1' });
      await f.registry.grantConsent({ participantId: 'p-008', scope: 'care.live', grantedAt: T - 2 * H, formVersion: 'v1' });
      await viaApi.copy([delivery({ ...reading('p-008', 'fluid_intake', 100, T), siteId: 'site-a', roomId: 'room-1', trialId: 'trial-1' })]);
      expect(await participants()).toEqual(['p-008']);

      // The fixture's store holds p-007's readings from T on; a grant dated before them brings them in.
      const granted = await f.call({
        method: 'POST',
        url: '/v1/participants/p-007/consents',
        payload: { scope: 'care.live', grantedAt: new Date(T - 2 * H).toISOString(), formVersion: 'v1' },
        token: admin,
      });
      expect(granted.statusCode).toBe(201);
      expect(await participants()).toEqual(['p-007', 'p-008']);

      // Another scope's withdrawal leaves Grafana's copy alone.
      const research = (await f.registry.listConsents('p-007')).find((c) => c.scope === 'research');
      expect((await f.call({ method: 'POST', url: `/v1/consents/${research!.id}/withdraw`, payload: {}, token: admin })).statusCode).toBe(200);
      expect(await participants()).toEqual(['p-007', 'p-008']);

      const live = (granted.json() as { id: string }).id;
      expect((await f.call({ method: 'POST', url: `/v1/consents/${live}/withdraw`, payload: {}, token: admin })).statusCode).toBe(200);
      expect(await participants()).toEqual(['p-008']);

      expect((await f.call({ method: 'DELETE', url: '/v1/participants/p-008/data', token: admin })).statusCode).toBe(200);
      expect(await participants()).toEqual([]);
    } finally {
      await viaApi.close();
      await f.dispose();
    }
  });
});
