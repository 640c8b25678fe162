import { z } from 'zod';
import { HubError } from '../kernel/errors.js';
import { loadHubConfig } from '../hub/config.js';
import { loadAdapterConfig } from '../hub/split-config.js';

const Env = z.object({
  API_HOST: z.string().min(1).default('127.0.0.1'),
  API_PORT: z.coerce.number().int().min(0).max(65_535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export interface ApiConfig {
  readonly host: string;
  /** 0 picks a free port (tests). */
  readonly port: number;
  readonly logLevel: string;
}

/** The API's settings from an environment the composition root passes in; never process.env here. */
export function loadApiConfig(env: Readonly<Record<string, string | undefined>>): ApiConfig {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new HubError('CONFIG_INVALID', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
  }
  const c = parsed.data;
  return Object.freeze({ host: c.API_HOST, port: c.API_PORT, logLevel: c.LOG_LEVEL });
}

/**
 * Everything the API alone (api/main.ts, split layout) reads: the settings above, the
 * process settings (parsed as hub/config.ts does), the shared registry and the telemetry
 * store (hub/split-config.ts).
 */
export function loadApiServiceConfig(env: Readonly<Record<string, string | undefined>>) {
  return Object.freeze({
    process: loadHubConfig({ ARENA_DATA_DIR: env.ARENA_DATA_DIR, ARENA_PROFILES_DIR: env.ARENA_PROFILES_DIR, LOG_LEVEL: env.LOG_LEVEL }),
    api: loadApiConfig(env),
    adapters: loadAdapterConfig({
      ARENA_REGISTRY_URL: env.ARENA_REGISTRY_URL,
      ARENA_STORE: env.ARENA_STORE,
      INFLUX_URL: env.INFLUX_URL,
      INFLUX_TOKEN: env.INFLUX_TOKEN,
      INFLUX_ORG: env.INFLUX_ORG,
      INFLUX_BUCKET: env.INFLUX_BUCKET,
      INFLUX_DATABASE: env.INFLUX_DATABASE,
    }),
  });
}
