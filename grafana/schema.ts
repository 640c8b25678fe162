import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The parts of Grafana's provisioning files and dashboard JSON this repo uses, so a typo
 * fails a test instead of a silently empty panel. Provisioning: Grafana docs
 * "Provision Grafana" (apiVersion 1) and "Provision InfluxDB" (InfluxQL with a user and password).
 * Dashboards: only the fields we write are checked; Grafana's own extras are let through.
 */

/** A value Grafana expands from its environment at provisioning time: `${NAME}`. */
const envRef = (prefix = '') => new RegExp(`^${prefix}\\$\\{[A-Z][A-Z0-9_]*\\}$`);

export const DatasourceProvisioning = z.strictObject({
  apiVersion: z.literal(1),
  datasources: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        uid: z.string().regex(/^[a-z0-9-]{1,40}$/),
        type: z.literal('influxdb'),
        access: z.literal('proxy'),
        url: z.string().regex(envRef(), 'the URL comes from the environment'),
        user: z.string().regex(envRef(), 'the user comes from the environment'),
        isDefault: z.boolean().optional(),
        editable: z.boolean().optional(),
        jsonData: z.strictObject({
          version: z.literal('InfluxQL'),
          dbName: z.string().regex(envRef(), 'the database comes from the environment'),
          httpMode: z.enum(['GET', 'POST']),
          timeInterval: z.string().optional(),
        }),
        secureJsonData: z.strictObject({
          password: z.string().regex(envRef(), 'the password comes from the environment, never a literal'),
        }),
      }),
    )
    .min(1),
});

export const DashboardProvisioning = z.strictObject({
  apiVersion: z.literal(1),
  providers: z
    .array(
      z.strictObject({
        name: z.string().min(1),
        orgId: z.number().int().positive(),
        folder: z.string(),
        type: z.literal('file'),
        disableDeletion: z.boolean(),
        allowUiUpdates: z.boolean(),
        updateIntervalSeconds: z.number().int().positive(),
        options: z.strictObject({ path: z.string().startsWith('/') }),
      }),
    )
    .min(1),
});

const DatasourceRef = z.object({ type: z.literal('influxdb'), uid: z.string().min(1) });

const InfluxQLTarget = z.object({
  refId: z.string().regex(/^[A-Z]$/),
  datasource: DatasourceRef,
  rawQuery: z.literal(true),
  resultFormat: z.enum(['time_series', 'table']),
  query: z.string().min(1),
  alias: z.string().optional(),
});

const Panel = z.object({
  id: z.number().int().positive(),
  type: z.enum(['stat', 'table', 'timeseries', 'state-timeline', 'barchart']),
  title: z.string().min(1),
  description: z.string().optional(),
  gridPos: z.object({ x: z.number().int().min(0).max(23), y: z.number().int().min(0), w: z.number().int().min(1).max(24), h: z.number().int().min(1) }),
  datasource: DatasourceRef,
  targets: z.array(InfluxQLTarget).min(1),
  fieldConfig: z.object({ defaults: z.record(z.string(), z.unknown()), overrides: z.array(z.unknown()) }),
  options: z.record(z.string(), z.unknown()),
});

const Variable = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('query'),
    name: z.string().regex(/^[a-z_]+$/),
    label: z.string(),
    datasource: DatasourceRef,
    query: z.string().min(1),
    definition: z.string(),
    refresh: z.union([z.literal(1), z.literal(2)]),
    multi: z.boolean(),
    includeAll: z.boolean(),
    allValue: z.string().optional(),
  }),
  z.object({ type: z.literal('textbox'), name: z.string().regex(/^[a-z_]+$/), label: z.string(), query: z.string() }),
]);

export const Dashboard = z.object({
  uid: z.string().regex(/^[a-z0-9-]{1,40}$/),
  title: z.string().min(1),
  description: z.string().optional(),
  tags: z.array(z.string()),
  schemaVersion: z.number().int().min(36),
  editable: z.boolean(),
  time: z.object({ from: z.string(), to: z.string() }),
  refresh: z.string(),
  templating: z.object({ list: z.array(Variable) }),
  panels: z.array(Panel).min(1),
});
export type Dashboard = z.infer<typeof Dashboard>;

/** Reads a YAML or JSON file and checks it; the error names the file and the field. */
export function readChecked<S extends z.ZodType>(path: string, schema: S): z.infer<S> {
  const doc: unknown = path.endsWith('.json') ? JSON.parse(readFileSync(path, 'utf8')) : parse(readFileSync(path, 'utf8'));
  const r = schema.safeParse(doc);
  if (!r.success) throw new Error(`${path}:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`).join('\n')}`);
  return r.data;
}

export function readDashboards(dir: string): { file: string; dashboard: Dashboard }[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((file) => ({ file, dashboard: readChecked(join(dir, file), Dashboard) }));
}

/** Every InfluxQL text of a dashboard: panel targets and query variables. */
export function dashboardQueries(d: Dashboard): { where: string; query: string }[] {
  return [
    ...d.templating.list.flatMap((v) => (v.type === 'query' ? [{ where: `variable ${v.name}`, query: v.query }] : [])),
    ...d.panels.flatMap((p) => p.targets.map((t) => ({ where: `panel "${p.title}" ${t.refId}`, query: t.query }))),
  ];
}
