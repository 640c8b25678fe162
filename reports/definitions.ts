import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { HubError } from '../kernel/errors.js';

/** The indicator registry (indicators.yaml beside this file): validated once, at load. */

const Labels = z.object({ en: z.string().min(1), nb: z.string().min(1) }).strict();
const Counts = z
  .object({
    source: z.enum(['device', 'hub']),
    events: z.array(z.string().min(1)).min(1),
    /** Only events with one of these VKP alert codes; absent: any. */
    alertCodes: z.array(z.string().min(1)).min(1).optional(),
  })
  .strict();
export type EventSelector = z.infer<typeof Counts>;

const common = {
  id: z.string().regex(/^[a-z][a-z0-9_]*$/),
  unit: z.string().min(1),
  formula: z.string().min(1),
  labels: Labels,
  /** A vendors' delivery indicator: the only kind a vendor's report holds. */
  delivery: z.boolean().default(false),
};

const Definition = z.discriminatedUnion('kind', [
  z.object({ ...common, kind: z.literal('rate'), counts: Counts, by: z.enum(['code']).optional() }).strict(),
  z.object({ ...common, kind: z.literal('proportion'), numerator: Counts, denominator: Counts }).strict(),
  z.object({ ...common, kind: z.literal('duration'), counts: Counts }).strict(),
  z.object({ ...common, kind: z.literal('late-doses'), counts: Counts }).strict(),
  z.object({ ...common, kind: z.literal('daily'), family: z.string().min(1), measurement: z.string().min(1), lateAlertCode: z.string().min(1) }).strict(),
  z.object({ ...common, kind: z.literal('fluid-target'), family: z.string().min(1), intake: z.string().min(1), output: z.string().min(1) }).strict(),
  z.object({ ...common, kind: z.literal('completeness') }).strict(),
  z.object({ ...common, kind: z.literal('uptime') }).strict(),
  z.object({ ...common, kind: z.literal('rejections') }).strict(),
  z.object({ ...common, kind: z.literal('not-computable'), reason: Labels }).strict(),
]);
export type IndicatorDefinition = z.infer<typeof Definition>;

const Registry = z
  .object({ version: z.string().regex(/^\d+\.\d+\.\d+$/), indicators: z.array(Definition).min(1) })
  .strict()
  .refine((r) => new Set(r.indicators.map((i) => i.id)).size === r.indicators.length, { message: 'indicator ids must be unique' });
export type IndicatorRegistry = z.infer<typeof Registry>;

export const DEFAULT_INDICATORS_FILE = fileURLToPath(new URL('./indicators.yaml', import.meta.url));

export function loadIndicators(file: string = DEFAULT_INDICATORS_FILE): IndicatorRegistry {
  const parsed = Registry.safeParse(parse(readFileSync(file, 'utf8')));
  if (!parsed.success) {
    throw new HubError('CONFIG_INVALID', `${file}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  return Object.freeze(parsed.data);
}
