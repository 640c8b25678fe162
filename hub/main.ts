import '../kernel/runtime.js';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../kernel/log.js';
import { isHubError } from '../kernel/errors.js';
import { configProblems } from '../kernel/config-env.js';
import { loadBrokerConfig } from '../broker/config.js';
import { loadIngestConfig } from '../ingest/config.js';
import { loadApiConfig } from '../api/config.js';
import { loadAlarmConfig } from '../alarms/config.js';
import { runSimulator } from '../sim/simulator.js';
import { loadHubConfig } from './config.js';
import { seedDemo } from './demo-seed.js';
import { startHub } from './start.js';

const { values: args } = parseArgs({
  options: {
    demo: { type: 'boolean', default: false },
    'no-simulator': { type: 'boolean', default: false },
    speed: { type: 'string', default: '60' },
  },
});

const env = process.env;
// Every loader runs, so that all bad variables are reported at once, each on its line.
const problems = new Set<string>();
const load = <T>(loader: (e: typeof env) => T): T | undefined => {
  try {
    return loader(env);
  } catch (e) {
    for (const line of configProblems(e)) problems.add(line);
    return undefined;
  }
};
const parts = { hub: load(loadHubConfig), broker: load(loadBrokerConfig), ingest: load(loadIngestConfig), api: load(loadApiConfig), alarms: load(loadAlarmConfig) };
if (problems.size > 0 || !parts.hub || !parts.broker || !parts.ingest || !parts.api || !parts.alarms) {
  console.error(`arena-hub: invalid configuration:\n  ${[...problems].join('\n  ')}`);
  process.exit(2);
}
const config = { hub: parts.hub, broker: parts.broker, ingest: parts.ingest, api: parts.api, alarms: parts.alarms };
const logger = createLogger(config.hub.logLevel);

try {
  const hub = await startHub({ ...config, logger });
  let simulator: Awaited<ReturnType<typeof runSimulator>> | undefined;
  if (args.demo) {
    const devices = await seedDemo(hub.registry, join(config.hub.dataDir, 'demo-devices.json'), logger);
    if (!args['no-simulator']) {
      simulator = await runSimulator({
        url: `mqtt://127.0.0.1:${hub.mqttPort}`,
        devices: Object.entries(devices).map(([deviceId, d]) => ({ deviceId, ...d })),
        profiles: hub.profiles,
        speed: Number(args.speed),
        logger: logger.child({ component: 'simulator' }),
      });
    }
    logger.info(
      { api: `http://127.0.0.1:${hub.apiPort}`, docs: `http://127.0.0.1:${hub.apiPort}/docs`, adminTokenFile: hub.adminTokenFile },
      'demo running: see README "Quick start"',
    );
  }
  const shutdown = async (signal: string) => {
    logger.info({ signal }, 'shutting down');
    await simulator?.stop();
    await hub.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
} catch (e) {
  // A bad profile or an unusable data folder stops the start with a message that names it.
  logger.fatal({ code: isHubError(e) ? e.code : 'INTERNAL' }, (e as Error).message);
  console.error(`arena-hub: ${(e as Error).message}`);
  process.exit(1);
}
