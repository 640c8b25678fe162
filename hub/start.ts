import { mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadCatalogue } from '../device-profiles/catalogue.js';
import { ruleEventProblems } from '../alarms/rules/codes.js';
import { reloadCatalogue } from '../device-profiles/catalogue-reload.js';
import { listenOptions, type BrokerConfig } from '../broker/config.js';
import type { HubBroker, ListeningPorts } from '../broker/types.js';
import { createHubMetrics } from '../kernel/metrics.js';
import { OPEN_STATES } from '../kernel/alarms.js';
import type { IngestConfig } from '../ingest/config.js';
import type { ApiConfig } from '../api/config.js';
import { createBroker } from '../broker/broker.js';
import { createIngest, type Ingest } from '../ingest/pipeline.js';
import { buildApp } from '../api/app.js';
import { openDuckDbSqlClient } from '../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../stores/sql/registry.js';
import type { ProfileCatalog } from '../device-profiles/versions.js';
import { openPublishedProfiles } from '../service/adapters.js';
import { openAlarmEngine, type AlarmEngine } from '../alarms/engine.js';
import { openBoardPairings } from '../stores/sql/board-pairings.js';
import { loadAlarmConfig, type AlarmConfig } from '../alarms/config.js';
import { createLiveBus } from '../alarms/live-bus.js';
import type { HubConfig } from './config.js';
import { loadOrCreatePseudonymKey } from '../api/pseudonym-key.js';
import { loadOrCreateAuditKey } from '../audit/key.js';
import { caughtUpAtStart, openJournaledStore } from './journaled-store.js';
import { writeGate } from './backup-gate.js';
import { serveControl } from './backup-control.js';
import { dataFolderHeld, portInUse } from './start-errors.js';
import { startDiskWatch } from './disk-watch.js';
import { startRejectionRetention } from '../ingest/rejection-retention.js';
import { openTrialRetention } from '../stores/sql/trial-retention.js';
import { startTrialRetention } from './retention-schedule.js';
import { keepFilesPrivate } from '../service/private-files.js';
import { openErasureRegister, reapplyErasures } from '../api/erasure-register.js';
import { openConformanceRuns } from '../stores/sql/conformance-runs.js';
import { openRecorder } from '../conformance/recorder.js';
import { decoderFor } from '../device-profiles/versions.js';
import { hubVersion } from './version.js';
import { startFhirPush } from '../fhir/push.js';
import { pseudonymiser } from '../kernel/pseudonym.js';

export interface HubOptions {
  readonly hub: HubConfig;
  readonly broker: BrokerConfig;
  readonly ingest: IngestConfig;
  readonly api: ApiConfig;
  /** Alarm engine settings; the defaults of alarms/config.ts when omitted. */
  readonly alarms?: AlarmConfig;
  readonly logger: Logger;
}

export interface RunningHub {
  /** The plain MQTT port; 0 when plain listeners are off (MQTT_PLAIN=off). */
  readonly mqttPort: number;
  readonly wsPort: number | undefined;
  /** Every listener's port, the TLS ones included. */
  readonly ports: ListeningPorts;
  readonly apiPort: number;
  readonly adminTokenFile: string;
  readonly profiles: ProfileCatalog;
  readonly registry: Awaited<ReturnType<typeof openSqlRegistry>>;
  readonly ingest: Ingest;
  readonly alarms: AlarmEngine;
  /** Reads the catalogue files again (SIGHUP, hub/main.ts); answers why the previous one stays in force, or nothing. */
  reloadCatalogue(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * The all-in-one composition root: broker, ingest and API in one process on the embedded
 * store. The broker hands every device message to ingest and sends the QoS 1 PUBACK only
 * after ingest has committed it.
 */
export async function startHub(o: HubOptions): Promise<RunningHub> {
  const log = o.logger;
  keepFilesPrivate(o.hub.dataDir);

  // Where the hub writes: the data folder (registry, telemetry), the journal inside it (it
  // may be a mount of its own) and the export temp folder. A full export folder fails
  // exports only; the other two stop ingest (hub/disk-watch.ts).
  const journalDir = join(o.hub.dataDir, 'journal');
  mkdirSync(journalDir, { recursive: true });
  const disk = await startDiskWatch({
    places: [
      { role: 'data', path: o.hub.dataDir, stopsIngest: true },
      { role: 'journal', path: journalDir, stopsIngest: true },
      { role: 'export', path: tmpdir(), stopsIngest: false },
    ],
    ...o.hub.disk,
    logger: log,
  });

  const sql = await openDuckDbSqlClient(join(o.hub.dataDir, 'registry.duckdb')).catch((e: unknown) => {
    disk.close();
    throw dataFolderHeld(e, o.hub.dataDir);
  });
  // The profiles as published in the registry, the folder's new versions first; a version
  // published through the API is in force here at once (stores/sql/profile-versions.ts).
  let profiles: ProfileCatalog;
  try {
    profiles = await openPublishedProfiles(sql, { profilesDir: o.hub.profilesDir, catalogue: loadCatalogue(o.hub.catalogueDirs) }, o.ingest.limits, log);
  } catch (e) {
    disk.close();
    await sql.close();
    throw e;
  }
  // The audit log's HMAC key lives beside the database, never in it (audit/key.ts).
  const registry = await openSqlRegistry(sql, { profiles, auditKey: loadOrCreateAuditKey(join(o.hub.dataDir, 'audit.key')) });
  // The PUBACK waits for the journal, not for DuckDB (hub/journaled-store.ts).
  let ingest: Ingest | undefined;
  const journaled = await openJournaledStore({
    dataDir: o.hub.dataDir,
    maxBytes: o.hub.journalMaxBytes,
    memoryLimit: o.hub.duckdbMemoryLimit,
    dedupWindowMs: o.hub.dedupWindowMs,
    logger: log,
    onDelivered: (result) => ingest?.stats.delivered(result),
  });
  // Every change to telemetry passes this gate, so a backup can hold them for its cut (hub/backup.ts).
  const gate = writeGate(journaled);
  const store = gate.store;

  ingest = createIngest({
    profiles,
    directory: registry.directory,
    store,
    logger: log,
    batch: o.ingest.batch,
    maxRejectedPayloadBytes: o.ingest.maxRejectedPayloadBytes,
    storedOnDelivery: true,
    rejectionSamplesPerHour: o.ingest.rejections.samplesPerHour,
  });
  const retention = startRejectionRetention({ store, days: o.ingest.rejections.retentionDays, intervalMs: 3_600_000, logger: log });

  // Every commit goes to the alarm engine and the live streams in the same turn, without
  // polling: a fall reaches the ward board within the commit's own latency (promise 6).
  const live = createLiveBus((err) => log.error({ err }, 'a live stream listener failed'));
  await caughtUpAtStart(journaled, log);
  const alarms = await openAlarmEngine({ sql, store, profiles, logger: log, config: o.alarms ?? loadAlarmConfig({}), publish: live.publish });
  // A restored backup may hold participants erased since it was taken: erased again before any device or caller gets in.
  const pseudonymKey = loadOrCreatePseudonymKey(join(o.hub.dataDir, 'pseudonym.key'));
  const erasure = { register: await openErasureRegister(join(o.hub.dataDir, 'erasure-register.ndjson'), pseudonymKey), compactRegistry: () => sql.compact() };
  await reapplyErasures({ registry, store, alarms, ...erasure }, log);
  // Closed trials' data archived or deleted on schedule; its state is in the registry, so a restart resumes it.
  const trialRetention = startTrialRetention({
    trials: registry,
    retention: await openTrialRetention(sql),
    store,
    audit: registry.audit,
    alarms,
    compactRegistry: erasure.compactRegistry,
    ...o.hub.trialRetention,
    logger: log,
  });
  // onCommitted answers the points it had not seen: a redelivery reaches neither the rules nor the screens twice.
  ingest.onCommit((committed) => {
    for (const point of alarms.onCommitted(committed)) live.publish({ kind: 'point', point });
  });
  // The optional FHIR push (fhir/push.ts) takes what the live streams carry: each new reading and alarm change once.
  const fhir = o.api.fhir;
  const push =
    fhir.push &&
    startFhirPush({
      settings: fhir.push,
      dir: join(o.hub.dataDir, 'fhir-push'),
      consent: registry.consent,
      pseudonym: pseudonymiser(pseudonymKey),
      subjectSystem: fhir.subjectSystem,
      catalogue: () => profiles.catalogue,
      logger: log,
    });
  if (push)
    live.subscribe((m) => {
      if (m.kind === 'point' && m.point.kind === 'reading') push.offer({ kind: 'reading', reading: m.point });
      else if (m.kind === 'alarm') push.offer({ kind: 'alarm', alarm: m.alarm });
    });
  // Conformance runs watch a device's sessions (the broker's traffic) and its committed messages.
  const conformance = await openRecorder({
    runs: await openConformanceRuns(sql),
    device: async (id) => registry.getDevice(id),
    decoder: (deviceId, profileId) => decoderFor(profiles, deviceId, profileId),
    hubVersion: hubVersion(),
    skewMs: o.ingest.limits.skewMs,
    logger: log,
  });
  ingest.onCommit((committed) => conformance.committed(committed));
  // Read at scrape time; the broker is built just below.
  let broker: HubBroker | undefined;
  const metrics = createHubMetrics({
    ingest: () => ingest.stats.snapshot(),
    journal: () => store.status(),
    broker: () => broker?.loadStats() ?? { connections: 0, inFlight: 0, heldConnections: 0 },
    openAlarms: async () => (await alarms.listAlarms({ states: OPEN_STATES, limit: Number.MAX_SAFE_INTEGER })).map((a) => a.alertCode),
  });
  ingest.onCommit((committed) => {
    const now = Date.now();
    for (const m of committed) metrics.committed(m.receivedAt, now);
  });

  broker = await createBroker({
    directory: registry.directory,
    profiles,
    sink: ingest.accept,
    reject: (deviceId, topic, code, payload) => ingest.reject({ deviceId, topic, payload, receivedAt: Date.now() }, code),
    logger: log,
    limits: o.broker.limits,
    connections: o.broker.connections,
    publishRate: o.broker.publishRate,
    quota: o.broker.quota,
    inFlight: o.broker.inFlight,
    admission: disk,
    ...(o.broker.tls ? { tls: o.broker.tls } : {}),
    onLoginRefused: metrics.loginRefused,
    traffic: conformance.traffic,
  });

  const boards = await openBoardPairings(sql);
  const app = await buildApp({
    registry,
    store,
    profiles,
    logger: log,
    boards,
    ingestStats: () => ({
      ...ingest.stats.snapshot(),
      journal: store.status(),
      quota: broker.quotaStats(),
      disk: disk.report(),
      ...(push ? { fhirPush: push.status() } : {}),
    }),
    disk: disk.report,
    pseudonymKey,
    alarms,
    live,
    erasure,
    retention: trialRetention,
    limits: o.api.limits,
    fhir: o.api.fhir,
    ...(o.api.tls ? { tls: o.api.tls } : {}),
    metrics: { metrics, token: o.api.metricsToken },
    conformance,
  });

  const adminTokenFile = join(o.hub.dataDir, 'admin-token');
  if (!(await registry.hasAdminToken()) || !existsSync(adminTokenFile)) {
    const { id, token } = await registry.issueToken({ role: 'admin', label: 'bootstrap admin', expiresAt: null });
    await registry.audit.append({ actor: { role: 'system', tokenId: null }, action: 'bootstrap admin token', target: id, detail: { file: adminTokenFile } });
    writeFileSync(adminTokenFile, `${token}\n`, { mode: 0o600 });
    log.warn({ file: adminTokenFile }, 'issued a bootstrap admin token; it is in this file, readable only by this user');
  }

  const control = await serveControl({ dataDir: o.hub.dataDir, gate, registry: sql, logger: log });
  let ports: ListeningPorts;
  let apiAddress: string;
  try {
    ports = await broker.listen(listenOptions(o.broker));
    apiAddress = await app.listen({ host: o.api.host, port: o.api.port });
  } catch (e) {
    throw portInUse(e, o.broker, o.api);
  }
  const apiPort = Number(new URL(apiAddress).port);
  log.info({ ...ports, api: apiPort, https: o.api.tls !== undefined, dataDir: o.hub.dataDir, profiles: [...profiles.decoders.keys()] }, 'arena-hub is up');

  let stopping: Promise<void> | undefined;
  // A step of the shutdown that hangs is named in the log while it hangs, so that an
  // operator (or a test) whose stop is cut short by SIGKILL learns which one it was.
  const step = async (name: string, close: () => Promise<unknown>): Promise<void> => {
    const started = performance.now();
    const slow = setInterval(() => log.warn({ step: name, ms: Math.round(performance.now() - started) }, 'shutdown step still running'), 5000);
    try {
      await close();
    } finally {
      clearInterval(slow);
    }
  };
  return {
    mqttPort: ports.mqttPort ?? 0,
    wsPort: ports.wsPort,
    ports,
    apiPort,
    adminTokenFile,
    profiles,
    registry,
    ingest,
    alarms,
    reloadCatalogue: () => reloadCatalogue({ dirs: o.hub.catalogueDirs, profiles, log, checks: [ruleEventProblems] }),
    stop: () =>
      (stopping ??= (async () => {
        // Stop taking messages first, then commit what was taken, then close storage.
        // Messages held for want of disk space are let go to ingest (stored if they can
        // be), so that the broker's close does not wait for space.
        disk.close();
        await step('control', () => control.close());
        await step('broker', () => broker.close());
        await step('retention', () => retention.stop());
        await step('trial retention', () => trialRetention.stop());
        await step('ingest', () => ingest.close());
        // After the last commit: a run still in progress ends as interrupted, with what it saw.
        await step('conformance', () => conformance.close());
        await step('api', () => app.close());
        await step('alarms', () => alarms.close());
        // After the last commit and alarm change, before the registry its consent checks read.
        if (push) await step('fhir push', () => push.close());
        await step('store', () => store.close());
        await step('registry', () => registry.close());
        log.info(ingest.stats.snapshot(), 'arena-hub stopped');
      })()),
  };
}

export const readAdminToken = (file: string): string => readFileSync(file, 'utf8').trim();
