import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { HubError } from '../kernel/errors.js';
import type { Catalogue, EventDef, FamilyDef, MeasurementDef, ZoneDef } from '../kernel/measurements.js';
import { SEVERITIES, type Severity } from '../kernel/telemetry.js';
import { unitProblem } from '../kernel/units.js';
import { VKP_ALERT, VKP_DISPENSE } from '../kernel/vkp.js';
import { formatPath } from './path.js';

/** The catalogue files shipped with the hub (catalogue/*.yaml), from dist/device-profiles/ or device-profiles/ alike. */
export const SHIPPED_CATALOGUE_DIR = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../catalogue' : '../catalogue', import.meta.url));

const Labels = z.strictObject({ en: z.string().min(1), nb: z.string().min(1) });
const Name = z.string().regex(/^[a-z][a-z0-9_]*$/, 'lower-case letters, digits and _, starting with a letter');
const FamilyName = z.string().regex(/^[a-z][a-z0-9-]*$/, 'lower-case letters, digits and -, starting with a letter');
const Snomed = z.string().regex(/^\d{6,18}$/, 'a SNOMED CT concept id (digits)');
const SeverityLevel = z.union(SEVERITIES.map((s) => z.literal(s)) as [z.ZodLiteral<Severity>, ...z.ZodLiteral<Severity>[]]);

const MeasurementEntry = z
  .strictObject({
    unit: z.string().superRefine((u, ctx) => {
      const problem = unitProblem(u);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
    type: z.enum(['number', 'integer', 'boolean']).default('number'),
    range: z.tuple([z.number(), z.number()]).optional(),
    loinc: z
      .string()
      .regex(/^\d{1,7}-\d$/, 'a LOINC code such as 29463-7')
      .optional(),
    snomed: Snomed.optional(),
    label: Labels,
  })
  .refine((m) => !m.range || m.range[0] <= m.range[1], { message: 'range must be [low, high]', path: ['range'] });

const EventEntry = z
  .strictObject({
    label: Labels,
    alert: z
      .string()
      .refine((c) => VKP_ALERT.display.has(c), { message: 'not a VKP alert code (vkp-alert-code-v090)' })
      .optional(),
    dispense: z
      .string()
      .refine((c) => VKP_DISPENSE.display.has(c), { message: 'not a VKP medication-dispense event code' })
      .optional(),
    snomed: Snomed.optional(),
    severity: SeverityLevel,
    alarm: z.boolean().optional(),
  })
  .refine((e) => !(e.alarm ?? e.alert !== undefined) || (e.alert !== undefined && e.severity > 0), {
    message: 'an event that opens an alarm needs a VKP alert code and a severity above 0 (0 is "not reported")',
    path: ['alarm'],
  });

const FamilyEntry = z.strictObject({ label: Labels });
const ZoneName = z.string().regex(/^[a-z][a-z0-9_-]*$/, 'lower-case letters, digits, _ and -, starting with a letter');

/** One catalogue file: any of the four sections. */
export const CatalogueFileSchema = z.strictObject({
  measurements: z.record(Name, MeasurementEntry).optional(),
  events: z.record(Name, EventEntry).optional(),
  families: z.record(FamilyName, FamilyEntry).optional(),
  zones: z.record(ZoneName, FamilyEntry).optional(),
});

export interface CatalogueIssue {
  readonly file: string;
  readonly path: string;
  readonly message: string;
}

/**
 * Builds a catalogue from files (name and YAML text), in order. A name defined twice is
 * an error naming both files: a stored point's name must keep one meaning.
 */
export function parseCatalogue(
  files: readonly { readonly name: string; readonly text: string }[],
): { ok: true; catalogue: Catalogue } | { ok: false; issues: CatalogueIssue[] } {
  const measurements = new Map<string, MeasurementDef>();
  const events = new Map<string, EventDef>();
  const families = new Map<string, FamilyDef>();
  const zones = new Map<string, ZoneDef>();
  const issues: CatalogueIssue[] = [];
  const add = <T extends { source: string }>(map: Map<string, T>, section: string, name: string, def: T): void => {
    const seen = map.get(name);
    if (seen) issues.push({ file: def.source, path: `${section}.${name}`, message: `already defined in ${seen.source}` });
    else map.set(name, def);
  };
  for (const { name: source, text } of files) {
    let doc: unknown;
    try {
      doc = parse(text, { prettyErrors: true }) ?? {};
    } catch (e) {
      issues.push({ file: source, path: '', message: `not valid YAML: ${(e as Error).message}` });
      continue;
    }
    const parsed = CatalogueFileSchema.safeParse(doc);
    if (!parsed.success) {
      for (const i of parsed.error.issues) issues.push({ file: source, path: formatPath(i.path), message: i.message });
      continue;
    }
    for (const [name, m] of Object.entries(parsed.data.measurements ?? {})) {
      add(measurements, 'measurements', name, {
        name,
        unit: m.unit,
        type: m.type,
        range: m.range ?? null,
        loinc: m.loinc ?? null,
        snomed: m.snomed ?? null,
        label: m.label,
        source,
      });
    }
    for (const [name, e] of Object.entries(parsed.data.events ?? {})) {
      add(events, 'events', name, {
        name,
        label: e.label,
        alert: e.alert ?? null,
        dispense: e.dispense ?? null,
        snomed: e.snomed ?? null,
        severity: e.severity,
        alarm: e.alarm ?? e.alert !== undefined,
        source,
      });
    }
    for (const [name, f] of Object.entries(parsed.data.families ?? {})) add(families, 'families', name, { name, label: f.label, source });
    for (const [name, z] of Object.entries(parsed.data.zones ?? {})) add(zones, 'zones', name, { name, label: z.label, source });
  }
  return issues.length ? { ok: false, issues } : { ok: true, catalogue: { measurements, events, families, zones } };
}

const yamlFiles = (dir: string): string[] =>
  readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(dir, f));

/**
 * The shipped catalogue, then each extra folder's *.yaml (an arena's own entries,
 * ARENA_CATALOGUE_DIR). A bad file stops the start with every problem, each with its
 * file and path.
 */
export function loadCatalogue(extraDirs: readonly string[] = []): Catalogue {
  const files = [SHIPPED_CATALOGUE_DIR, ...extraDirs].flatMap(yamlFiles).map((path) => ({ name: path, text: readFileSync(path, 'utf8') }));
  const result = parseCatalogue(files);
  if (!result.ok) throw new HubError('CONFIG_INVALID', result.issues.map((i) => `${i.file}: ${i.path || '(document)'}: ${i.message}`).join('\n'));
  return result.catalogue;
}

let shipped: Catalogue | undefined;
/** The shipped catalogue alone, read once: what a caller without an arena folder gets. */
export function shippedCatalogue(): Catalogue {
  shipped ??= loadCatalogue();
  return shipped;
}

/** The catalogue as served by GET /v1/catalogue and written into codebooks: plain, sorted by name. */
export function catalogueDocument(c: Catalogue) {
  const sorted = <T extends { name: string }>(m: ReadonlyMap<string, T>): T[] => [...m.values()].sort((a, b) => a.name.localeCompare(b.name));
  return {
    measurements: sorted(c.measurements).map(({ source: _s, ...m }) => ({ ...m, range: m.range ? [...m.range] : null })),
    events: sorted(c.events).map(({ source: _s, ...e }) => e),
    families: sorted(c.families).map(({ source: _s, ...f }) => f),
    zones: sorted(c.zones).map(({ source: _s, ...z }) => z),
  };
}
