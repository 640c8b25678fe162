import { isHubError } from '../kernel/errors.js';
import { createLogger, type Logger } from '../kernel/log.js';
import { keepFilesPrivate } from './private-files.js';

export interface Service {
  stop(): Promise<void>;
}

/**
 * Runs one service of the split layout (broker/main.ts, ingest/main.ts, api/main.ts):
 * configuration errors exit 2, start errors exit 1, SIGTERM and SIGINT stop it gracefully
 * (exit 0). `configure` parses the environment and throws on a bad one; `start` builds
 * the adapters and the service.
 */
export async function runService<C extends { readonly process: { readonly logLevel: string; readonly dataDir: string } }>(
  name: string,
  configure: (env: Record<string, string | undefined>) => C,
  start: (config: C, logger: Logger) => Promise<Service>,
): Promise<void> {
  let config: C;
  try {
    config = configure(process.env);
  } catch (e) {
    console.error(`arena-hub ${name}: invalid configuration:\n${(e as Error).message}`);
    process.exit(2);
  }
  const logger = createLogger(config.process.logLevel).child({ role: name });
  let service: Service;
  try {
    keepFilesPrivate(config.process.dataDir);
    service = await start(config, logger);
  } catch (e) {
    logger.fatal({ code: isHubError(e) ? e.code : 'INTERNAL', err: e }, (e as Error).message);
    console.error(`arena-hub ${name}: ${(e as Error).message}`);
    process.exit(1);
  }
  const shutdown = async (signal: string): Promise<void> => {
    logger.info({ signal }, 'shutting down');
    try {
      await service.stop();
    } catch (e) {
      logger.error({ err: e }, 'shutdown failed');
      process.exit(1);
    }
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
