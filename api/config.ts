import { z } from 'zod';
import { HubError } from '../kernel/errors.js';

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
