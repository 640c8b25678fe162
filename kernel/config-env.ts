import type { z } from 'zod';
import { HubError } from './errors.js';

/**
 * Every config.ts parses its variables through this, so that a bad configuration reads
 * the same everywhere: one line per variable, `NAME: what is wrong` (zod's message says
 * the accepted values), every bad variable at once. The composition roots gather the
 * lines of all their loaders (hub/main.ts).
 */
export function parseEnv<S extends z.ZodType>(schema: S, env: Readonly<Record<string, string | undefined>>): z.output<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  throw new HubError('CONFIG_INVALID', parsed.error.issues.map((i) => `${i.path.join('.') || '(environment)'}: ${i.message}`).join('\n'));
}

/** The lines of a configuration error, one per variable; any other error as one line. */
export const configProblems = (e: unknown): string[] => (e instanceof HubError && e.code === 'CONFIG_INVALID' ? (e.detail ?? e.message).split('\n') : [(e as Error).message]);
