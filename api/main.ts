import '../kernel/runtime.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openAlarmEngine } from '../alarms/engine.js';
import { openBoardPairings } from '../stores/sql/board-pairings.js';
import { createLiveBus } from '../alarms/live-bus.js';
import { HubError } from '../kernel/errors.js';
import { loadParticipantTagKey, openSharedProfiles, openSharedRegistry, openSharedStore } from '../service/adapters.js';
import { reloadCatalogue } from '../device-profiles/catalogue-reload.js';
import { onHangup } from '../service/catalogue-reload.js';
import { ruleEventProblems } from '../alarms/rules/codes.js';
import { loadOrCreatePseudonymKey } from './pseudonym-key.js';
import { loadOrCreateAuditKey } from '../audit/key.js';
import { openErasureRegister, reapplyErasures } from './erasure-register.js';
import { runService } from '../service/run.js';
import { openPostgresSqlClient } from '../stores/postgres/sql-client.js';
import { buildApp } from './app.js';
import { startCommitFeed } from './commit-feed.js';
import { loadApiServiceConfig } from './config.js';
import type { GrafanaMirror } from '../kernel/ports.js';
import { openGrafanaMirror } from '../stores/influx/grafana-mirror.js';
import { consentOf } from './routes/live-access.js';

/**
 * The HTTP API alone (split layout, docker-compose.yml): reads the shared registry
 * (PostgreSQL) and the telemetry store (InfluxDB; a DuckDB file only while no ingest
 * holds it), and hosts the alarm engine and the live streams behind /v1/alarms*,
 * /v1/live and /ward. Their input is ingest's commits, taken from the broker over a
 * persistent session (api/commit-feed.ts); the alarm tables live in the registry's
 * database, as in the all-in-one hub. There is one engine, so one API process: a second
 * one would be a second writer of alarm state. Ingest counters are not served here:
 * ingest serves them itself (INGEST_HTTP_PORT).
 */
await runService('api', loadApiServiceConfig, async (c, logger) => {
  const profiles = await openSharedProfiles(c.adapters, c.process, logger);
  // The FHIR push runs in the all-in-one hub only (README "FHIR"); said at start rather than ignored without a word.
  if (c.api.fhir.push) logger.warn({ url: c.api.fhir.push.url }, 'FHIR_PUSH_URL is set, but the split layout does not push: nothing will be sent');
  // An arena's catalogue changed: SIGHUP to every service reads it again (service/catalogue-reload.ts).
  onHangup(() => reloadCatalogue({ dirs: c.process.catalogueDirs, profiles, log: logger, checks: [ruleEventProblems] }), logger);
  // The audit log's HMAC key: from the configuration, else a key file in this service's data folder (audit/key.ts).
  mkdirSync(c.process.dataDir, { recursive: true });
  const auditKey = c.api.auditKey ?? loadOrCreateAuditKey(join(c.process.dataDir, 'audit.key'));
  const registry = await openSharedRegistry(c.adapters, profiles, logger, auditKey).catch(async (e: unknown) => {
    await profiles.close();
    throw e;
  });
  const opened: { close(): Promise<void> }[] = [profiles, registry];
  const closeAll = async (): Promise<void> => {
    for (const o of opened.splice(0).reverse()) await o.close().catch((err: unknown) => logger.error({ err }, 'close failed'));
  };
  try {
    const store = await openSharedStore(c.adapters, c.process.dataDir, logger, 'reader');
    opened.push(store);
    // The alarm tables (alarms/store.ts) in the registry's database, on a pool of their own.
    const alarmSql = await openPostgresSqlClient(c.adapters.registryUrl, { max: 4 });
    opened.push(alarmSql);
    const live = createLiveBus((err) => logger.error({ err }, 'a live stream listener failed'));
    // Opening replays recent telemetry from the store, so what was committed while this
    // process was down is judged before the feed delivers anything.
    const alarms = await openAlarmEngine({ sql: alarmSql, store, profiles, logger, config: c.alarms, publish: live.publish });
    opened.push(alarms);

    // Grafana's consent-filtered bucket (stores/influx/grafana-mirror.ts), when compose gives it one.
    let grafana: GrafanaMirror | undefined;
    if (c.grafana && c.adapters.store.kind === 'influx') {
      const { url, token, org } = c.adapters.store;
      const participantKey = await loadParticipantTagKey(c.adapters.registryUrl);
      grafana = openGrafanaMirror({ url, token, org, ...c.grafana, participantKey, consent: consentOf(registry), source: store, logger });
      opened.push(grafana);
    }

    // The researchers' pseudonym key lives in this service's data folder (api/pseudonym-key.ts).
    const pseudonymKey = loadOrCreatePseudonymKey(join(c.process.dataDir, 'pseudonym.key'));
    // Erasures made since a backup of the registry and InfluxDB was taken are made again (README "Privacy and security").
    const erasure = { register: await openErasureRegister(join(c.process.dataDir, 'erasure-register.ndjson'), pseudonymKey) };
    await reapplyErasures({ registry, store, alarms, grafana, ...erasure }, logger);
    const feed = startCommitFeed({
      url: c.feed.broker.url,
      tls: c.feed.broker.tls,
      username: c.service.username,
      password: c.service.secret,
      clientId: c.feed.clientId,
      alarms,
      live,
      mirror: grafana,
      logger,
    });
    // Without the feed the ward board shows nothing new: not ready (GET /readyz answers 503).
    const ready = async (): Promise<void> => {
      if (!feed.connected()) throw new HubError('STORE_UNAVAILABLE', 'the alarm feed is not connected to the broker');
    };
    // Ward tablets' pairing codes, next to the alarm tables on the same pool.
    const boards = await openBoardPairings(alarmSql);
    const app = await buildApp({
      registry,
      store,
      profiles,
      logger,
      pseudonymKey,
      alarms,
      live,
      ready,
      erasure,
      grafana,
      boards,
      limits: c.api.limits,
      fhir: c.api.fhir,
      ...(c.api.tls ? { tls: c.api.tls } : {}),
    });
    const address = await app.listen({ host: c.api.host, port: c.api.port }).catch(async (e: unknown) => {
      await feed.stop();
      throw e;
    });
    logger.info({ api: address, broker: c.feed.broker.url }, 'arena-hub api is up');
    return {
      async stop() {
        // Take no further commit, then stop serving, then store the alarm state.
        await feed.stop();
        await app.close();
        await closeAll();
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
});
