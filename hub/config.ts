import { fileURLToPath } from 'node:url';
import { resolve } from 'node:path';
import { z } from 'zod';

/** The package root, from dist/hub/ or hub/ alike. */
const ROOT = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../' : '../', import.meta.url));

const Schema = z.object({
  ARENA_DATA_DIR: z.string().min(1).default('data'),
  ARENA_PROFILES_DIR: z.string().min(1).default(resolve(ROOT, 'device-profiles/profiles')),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface HubConfig {
  readonly dataDir: string;
  readonly profilesDir: string;
  readonly logLevel: string;
  readonly root: string;
}

export function loadHubConfig(env: Record<string, string | undefined>): HubConfig {
  const c = Schema.parse(env);
  return Object.freeze({ dataDir: resolve(c.ARENA_DATA_DIR), profilesDir: resolve(c.ARENA_PROFILES_DIR), logLevel: c.LOG_LEVEL, root: ROOT });
}
