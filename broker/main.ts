import '../kernel/runtime.js';
import { hashSecret } from '../kernel/secrets.js';
import { followErasures, openSharedProfiles, openSharedRegistry } from '../service/adapters.js';
import { reloadCatalogue } from '../device-profiles/catalogue-reload.js';
import { onHangup } from '../service/catalogue-reload.js';
import { runService } from '../service/run.js';
import { createBroker } from './broker.js';
import { brokerErasure } from './erasure.js';
import { listenOptions, loadBrokerServiceConfig } from './config.js';
import { openLevelState, openRedisState } from './state.js';
import type { HubBroker } from './types.js';
import { createHubMetrics } from '../kernel/metrics.js';
import { serveMetrics } from '../service/metrics-server.js';

/**
 * The broker alone (split layout, docker-compose.yml). No sink: every device message is
 * handed to ingest's persistent sessions before the PUBACK (broker/handoff.ts), and
 * sessions, subscriptions and queued or in-flight messages live in LevelDB under
 * ARENA_DATA_DIR/broker (aedes-persistence-level on classic-level), so a broker restart
 * loses nothing either. LevelDB writes reach the OS before a put resolves: they survive
 * the process being killed; surviving a power cut needs more and is not claimed here.
 * An erasure removes the participant's queued messages there and compacts the database
 * (broker/erasure.ts), at every registry change that erases someone and, for erasures
 * made while the broker was down, before it listens. With BROKER_STATE=redis several
 * instances share their state in Redis instead (broker/state.ts).
 */
await runService('broker', loadBrokerServiceConfig, async (c, logger) => {
  // Published versions reach this process with the registry's change notifications.
  const profiles = await openSharedProfiles(c.adapters, c.process, logger);
  // An arena's catalogue changed: SIGHUP to every service reads it again (service/catalogue-reload.ts).
  onHangup(() => reloadCatalogue({ dirs: c.process.catalogueDirs, profiles, log: logger }), logger);
  const registry = await openSharedRegistry(c.adapters, profiles, logger).catch(async (e: unknown) => {
    await profiles.close();
    throw e;
  });
  const state = await (c.state.kind === 'redis' ? openRedisState(c.state.url, c.state.sessionDelivery) : openLevelState(c.process.dataDir)).catch(
    async (e: unknown) => {
      await registry.close();
      await profiles.close();
      throw e;
    },
  );
  let erasures: { close(): Promise<void> } | undefined;
  try {
    let broker: HubBroker | undefined;
    const metrics = createHubMetrics({ broker: () => broker?.loadStats() ?? { connections: 0, inFlight: 0, heldConnections: 0 } });
    const erasure = brokerErasure({ db: state.level, persistence: state.persistence, assignments: registry, logger });
    broker = await createBroker({
      directory: registry.directory,
      profiles,
      logger,
      limits: c.broker.limits,
      connections: c.broker.connections,
      publishRate: c.broker.publishRate,
      quota: c.broker.quota,
      inFlight: c.broker.inFlight,
      serviceAccount: { username: c.service.username, secretHash: await hashSecret(c.service.secret) },
      handoff: true,
      persistence: state.persistence,
      sessions: state.sessions,
      ...(state.mq ? { mq: state.mq } : {}),
      ...(c.broker.tls ? { tls: c.broker.tls } : {}),
      onLoginRefused: metrics.loginRefused,
      redactCommitted: erasure.redact,
    });
    erasures = await followErasures(c.adapters.registryUrl, registry, logger, 'broker sessions', erasure.forget);
    const ports = await broker.listen(listenOptions(c.broker));
    const scrape = c.broker.metricsPort === undefined ? undefined : await serveMetrics({ host: c.broker.host, port: c.broker.metricsPort }, metrics);
    logger.info({ ...ports, metricsPort: scrape?.port, state: c.state.kind, where: state.where }, 'arena-hub broker is up');
    const running = broker;
    return {
      async stop() {
        await scrape?.close();
        await erasures?.close();
        await running.close();
        await state.close();
        await registry.close();
        await profiles.close();
      },
    };
  } catch (e) {
    await erasures?.close();
    await state.close();
    await registry.close();
    await profiles.close();
    throw e;
  }
});
