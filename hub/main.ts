import '../kernel/runtime.js';
import './thread-pool.js';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../kernel/log.js';
import { isHubError } from '../kernel/errors.js';
import { onHangup } from '../service/catalogue-reload.js';
import { runSimulator } from '../sim/simulator.js';
import { loadHubProcessConfig } from './config.js';
import { seedDemo } from './demo-seed.js';
import { startHub } from './start.js';

const { values: args } = parseArgs({
  options: {
    demo: { type: 'boolean', default: false },
    'no-simulator': { type: 'boolean', default: false },
    speed: { type: 'string', default: '60' },
  },
});

let config: ReturnType<typeof loadHubProcessConfig>;
try {
  config = loadHubProcessConfig(process.env);
} catch (e) {
  console.error(`arena-hub: invalid configuration:\n${(e as Error).message}`);
  process.exit(2);
}
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
  onHangup(() => hub.reloadCatalogue(), logger);
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
} catch (e) {
  // A bad profile or an unusable data folder stops the start with a message that names it.
  logger.fatal({ code: isHubError(e) ? e.code : 'INTERNAL' }, (e as Error).message);
  console.error(`arena-hub: ${(e as Error).message}`);
  process.exit(1);
}
