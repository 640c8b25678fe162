import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadProfilesForTopics, openSharedRegistry, openSharedStore } from '../hub/adapters.js';
import { loadOrCreatePseudonymKey } from '../hub/pseudonym-key.js';
import { runService } from '../hub/service.js';
import { buildApp } from './app.js';
import { loadApiServiceConfig } from './config.js';

/**
 * The HTTP API alone (split layout, docker-compose.yml): reads the shared registry
 * (PostgreSQL) and the telemetry store (InfluxDB; a DuckDB file only while no ingest
 * holds it). Ingest counters and the live alarm views are not served here: they live
 * with ingest's commits, in another process.
 */
await runService(
  'api',
  loadApiServiceConfig,
  async (c, logger) => {
    const profiles = loadProfilesForTopics(c.process.profilesDir);
    const registry = await openSharedRegistry(c.adapters, profiles);
    const store = await openSharedStore(c.adapters, c.process.dataDir, logger, 'reader').catch(async (e: unknown) => {
      await registry.close();
      throw e;
    });
    // The researchers' pseudonym key lives in this service's data folder (hub/pseudonym-key.ts).
    mkdirSync(c.process.dataDir, { recursive: true });
    const pseudonymKey = loadOrCreatePseudonymKey(join(c.process.dataDir, 'pseudonym.key'));
    const app = await buildApp({ registry, store, profiles, logger, pseudonymKey });
    const address = await app.listen({ host: c.api.host, port: c.api.port });
    logger.info({ api: address }, 'arena-hub api is up');
    return {
      async stop() {
        await app.close();
        await store.close();
        await registry.close();
      },
    };
  },
);
