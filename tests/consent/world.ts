import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../api/app.js';
import { loadProfiles } from '../../device-profiles/load.js';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Registry } from '../../kernel/registry.js';
import type { HubEvent, Point, Reading } from '../../kernel/telemetry.js';
import type { TokenRegistry } from '../../kernel/tokens.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { openAlarmEngine, type AlarmEngine } from '../../alarms/engine.js';
import { createLiveBus } from '../../alarms/live-bus.js';
import { parseCsv, parseNdjson, parseParquet, type Row } from '../helpers/datasets.js';

/**
 * The consent matrix's arena, on a real DuckDB registry and store in a temp folder.
 *
 * Site S (room R) runs trial TA with vendors VA and VB; site S2 (room R2) runs trial TB
 * with vendor VA only, and gives its researchers device data. Devices: A1 (VA) and B1
 * (VB) in R, A2 (VA) in R2. Every participant of TA has one reading on A1 and one event
 * on B1, each at its own device time; each row carries a label "<who>/<device>" (the
 * reading's value indexes LABELS, the event's attributes.label says it), so a test can
 * say exactly which rows a caller got.
 */
export const DAY = 86_400_000;
const MIN = 60_000;
export const T0 = Date.parse('2025-03-01T08:00:00Z');
export const KEY = Buffer.alloc(32, 7);

/** TA participants by consent state at the time of the matrix's requests. */
export const STATES = {
  granted: 'research and vendor.telemetry granted before the measurement',
  never: 'never granted anything',
  wBefore: 'granted, then withdrawn before the measurement',
  wAfter: 'granted, withdrawn after the measurement (before the export)',
  erased: 'granted, then erased',
  late: 'granted only after the measurement',
  research: 'research only',
  vendor: 'vendor.telemetry only',
} as const;
export type State = keyof typeof STATES;

export type Who = 'admin' | 'vendorA' | 'vendorB' | 'clinician' | 'clinicianS2' | 'researcherA' | 'researcherB';

export interface World {
  /** The temp folder: registry, store, and where exports are written before they are sent. */
  readonly dir: string;
  readonly app: FastifyInstance;
  readonly registry: Registry & TokenRegistry;
  readonly store: TelemetryStore;
  readonly tokens: Record<Who, string>;
  /** The alarm engine behind /v1/alarms and /v1/alarm-settings. */
  readonly alarms: AlarmEngine;
  /** What hub/start.ts does with a commit: judged by the alarm engine, then broadcast live. */
  commit(points: Point[]): void;
  /** A fall the room sensor RS in S's room R (or RS2 in S2's R2) reports now about a participant. */
  fall(participantId: string | null, at?: 'S' | 'S2'): HubEvent;
  /** When each TA participant's reading (A1) and event (B1) were measured. */
  readonly measuredAt: Record<State, number>;
  call(who: Who, url: string, init?: { method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH'; payload?: unknown }): Promise<LightMyRequestResponse>;
  /** The labels of the rows a route returned, sorted; or its status when not 200. */
  labels(who: Who, url: string): Promise<string[] | number>;
  dispose(): Promise<void>;
}

/** Reading values index this list; the label is the row's identity across every format. */
const LABELS: string[] = [];
const valueFor = (label: string): number => {
  let i = LABELS.indexOf(label);
  if (i < 0) i = LABELS.push(label) - 1;
  return i + 1;
};
const labelOfValue = (v: number): string => LABELS[v - 1] ?? `?${v}`;

export function labelOf(row: Row): string {
  // Events carry attributes (an object in the API, JSON text in datasets); readings carry none.
  if (row.attributes !== null && row.attributes !== undefined) {
    const attrs =
      typeof row.attributes === 'string' ? (JSON.parse(row.attributes) as Record<string, unknown>) : (row.attributes as unknown as Record<string, unknown>);
    return String(attrs.label);
  }
  return labelOfValue(Number(row.value));
}

let messageId = 1000n;
function reading(deviceId: string, label: string, at: number, trialId: string, participantId: string | null, roomId: string, siteId: string): Reading {
  return {
    kind: 'reading',
    messageId: messageId++,
    seq: 0,
    deviceId,
    profileId: 'aquascale',
    family: 'fluid-balance',
    siteId,
    roomId,
    trialId,
    participantId,
    name: 'body_weight',
    deviceTime: at,
    receivedAt: at + 500,
    clockSkewed: false,
    value: valueFor(label),
    unit: 'kg',
  };
}
function event(deviceId: string, label: string, at: number, trialId: string, participantId: string | null): HubEvent {
  return {
    kind: 'event',
    messageId: messageId++,
    seq: 0,
    deviceId,
    profileId: 'bedwatch-senml',
    family: 'fall-sensor',
    siteId: 'S',
    roomId: 'R',
    trialId,
    participantId,
    name: 'left_bed',
    deviceTime: at,
    receivedAt: at + 200,
    clockSkewed: false,
    alertCode: '4.2',
    dispenseCode: null,
    severity: 20,
    attributes: { label },
  };
}

export async function buildWorld(): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'consent-world-'));
  const profiles = loadProfiles('device-profiles/profiles', { skewMs: 60_000, maxPastMs: 365 * DAY, maxFutureMs: 60_000 });
  const registry = await openSqlRegistry(await openDuckDbSqlClient(join(dir, 'registry.duckdb')), { profiles });
  const store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
  const alarmSql = await openDuckDbSqlClient(join(dir, 'alarms.duckdb'));
  const bus = createLiveBus();
  const logger = createLogger('silent');
  const alarms = await openAlarmEngine({
    sql: alarmSql,
    store,
    profiles,
    logger,
    config: { timeZone: 'Europe/Oslo', tickMs: 3_600_000, replayMs: 3_600_000 },
    publish: bus.publish,
  });
  const app = await buildApp({ registry, store, profiles, logger, pseudonymKey: KEY, exportDir: dir, alarms, live: bus });

  await registry.createSite({ id: 'S', name: 'Ward', kind: 'patient-room' });
  await registry.createSite({ id: 'S2', name: 'Flat', kind: 'demo-flat' });
  await registry.createRoom({ id: 'R', siteId: 'S', name: 'Room', beds: 9 });
  await registry.createRoom({ id: 'R2', siteId: 'S2', name: 'Bedroom', beds: 1 });
  await registry.createVendor({ id: 'VA', name: 'AquaScale' });
  await registry.createVendor({ id: 'VB', name: 'BedWatch' });
  await registry.createDevice({ id: 'A1', vendorId: 'VA', profileId: 'aquascale', roomId: 'R' });
  await registry.createDevice({ id: 'B1', vendorId: 'VB', profileId: 'bedwatch-senml', roomId: 'R' });
  await registry.createDevice({ id: 'A2', vendorId: 'VA', profileId: 'aquascale', roomId: 'R2' });
  const period = { from: T0 - DAY, to: T0 + 30 * DAY };
  await registry.createTrial({
    id: 'TA',
    name: 'Trial A',
    siteId: 'S',
    vendorIds: ['VA', 'VB'],
    protocolRef: 'REK A',
    period,
    baseline: { from: period.from, to: T0 + DAY },
  });
  await registry.createTrial({ id: 'TB', name: 'Trial B', siteId: 'S2', vendorIds: ['VA'], protocolRef: 'REK B', period, researchDeviceData: true });

  const issue = async (p: Parameters<TokenRegistry['issueToken']>[0]) => (await registry.issueToken(p)).token;
  const tokens: Record<Who, string> = {
    admin: await issue({ role: 'admin', label: 'admin', expiresAt: null }),
    vendorA: await issue({ role: 'vendor', vendorId: 'VA', label: 'VA', expiresAt: null }),
    vendorB: await issue({ role: 'vendor', vendorId: 'VB', label: 'VB', expiresAt: null }),
    clinician: await issue({ role: 'clinician', siteIds: ['S'], label: 'nurse', expiresAt: null }),
    clinicianS2: await issue({ role: 'clinician', siteIds: ['S2'], label: 'flat nurse', expiresAt: null }),
    researcherA: await issue({ role: 'researcher', trialIds: ['TA'], label: 'study A', expiresAt: null }),
    researcherB: await issue({ role: 'researcher', trialIds: ['TB'], label: 'study B', expiresAt: null }),
  };
  const call: World['call'] = (who, url, init = {}) =>
    app.inject({
      method: init.method ?? 'GET',
      url,
      headers: { authorization: `Bearer ${tokens[who]}` },
      ...(init.payload !== undefined ? { payload: init.payload as object } : {}),
    });

  const states = Object.keys(STATES) as State[];
  const measuredAt = Object.fromEntries(states.map((s, i) => [s, T0 + (i + 1) * 10 * MIN])) as Record<State, number>;
  const points: Point[] = [];
  for (const s of states) {
    await registry.enrolParticipant({ id: s, trialId: 'TA' });
    points.push(reading('A1', `${s}/A1`, measuredAt[s], 'TA', s, 'R', 'S'), event('B1', `${s}/B1`, measuredAt[s] + MIN, 'TA', s));
  }
  points.push(reading('A1', 'dev/A1', T0 + 5 * MIN, 'TA', null, 'R', 'S'), event('B1', 'dev/B1', T0 + 6 * MIN, 'TA', null));
  await registry.enrolParticipant({ id: 'q', trialId: 'TB' });
  points.push(reading('A2', 'q/A2', T0 + 7 * MIN, 'TB', 'q', 'R2', 'S2'), reading('A2', 'devB/A2', T0 + 8 * MIN, 'TB', null, 'R2', 'S2'));
  await store.write({ messages: points.map((p) => ({ id: p.messageId, deviceId: p.deviceId, receivedAt: p.receivedAt })), points, rejections: [] });

  // Consents through the API, as arena staff would record them.
  const grant = async (participantId: string, scope: string, grantedAt: number): Promise<string> => {
    const res = await call('admin', `/v1/participants/${participantId}/consents`, { method: 'POST', payload: { scope, grantedAt, formVersion: 'v1' } });
    if (res.statusCode !== 201) throw new Error(`grant: ${res.body}`);
    return res.json().id as string;
  };
  const withdraw = async (consentId: string, withdrawnAt?: number): Promise<void> => {
    const res = await call('admin', `/v1/consents/${consentId}/withdraw`, { method: 'POST', payload: withdrawnAt === undefined ? {} : { withdrawnAt } });
    if (res.statusCode !== 200) throw new Error(`withdraw: ${res.body}`);
  };
  const before = T0 - 60 * MIN;
  for (const s of ['granted', 'wBefore', 'wAfter', 'erased'] as const) {
    for (const scope of ['research', 'vendor.telemetry']) {
      const id = await grant(s, scope, before);
      if (s === 'wBefore') await withdraw(id, measuredAt.wBefore - MIN);
      if (s === 'wAfter') await withdraw(id); // now: long after the measurement
    }
  }
  for (const scope of ['research', 'vendor.telemetry']) await grant('late', scope, measuredAt.late + DAY);
  await grant('research', 'research', before);
  await grant('vendor', 'vendor.telemetry', before);
  for (const scope of ['research', 'vendor.telemetry']) await grant('q', scope, before);
  const erased = await call('admin', '/v1/participants/erased/data', { method: 'DELETE' });
  if (erased.statusCode !== 200) throw new Error(`erase: ${erased.body}`);

  async function labels(who: Who, url: string): Promise<string[] | number> {
    const res = await call(who, url);
    if (res.statusCode !== 200) return res.statusCode;
    const type = String(res.headers['content-type']);
    let rows: Row[];
    if (type.startsWith('text/csv')) rows = parseCsv(res.body);
    else if (type.startsWith('application/x-ndjson')) rows = parseNdjson(res.body);
    else if (type.startsWith('application/vnd.apache.parquet')) rows = (await parseParquet(res.rawPayload)).rows;
    else rows = (res.json() as { items: Row[] }).items;
    return rows.map(labelOf).sort();
  }

  const commit = (points: Point[]): void => {
    alarms.onCommitted([{ points }]);
    for (const point of points) bus.publish({ kind: 'point', point });
  };
  const fall = (participantId: string | null, at: 'S' | 'S2' = 'S'): HubEvent => {
    const now = Date.now();
    const trialId = participantId === null ? null : at === 'S' ? 'TA' : 'TB';
    return {
      kind: 'event',
      messageId: messageId++,
      seq: 0,
      deviceId: at === 'S' ? 'RS' : 'RS2',
      profileId: 'roomsense-3d',
      family: 'fall-sensor',
      siteId: at,
      roomId: at === 'S' ? 'R' : 'R2',
      trialId,
      participantId,
      name: 'fall',
      deviceTime: now,
      receivedAt: now,
      clockSkewed: false,
      alertCode: '4.1',
      dispenseCode: null,
      severity: 40,
      attributes: {},
    };
  };

  return {
    dir,
    app,
    registry,
    store,
    tokens,
    alarms,
    commit,
    fall,
    measuredAt,
    call,
    labels,
    async dispose() {
      await app.close();
      await alarms.close();
      await alarmSql.close();
      await store.close();
      await registry.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
