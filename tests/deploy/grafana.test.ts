import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadProfiles } from '../../device-profiles/load.js';
import { shapesOf } from '../../device-profiles/schema.js';
import { RejectionCodes } from '../../kernel/telemetry.js';
import { SCHEMA, type Measurement } from '../../stores/influx/schema.js';
import { DashboardProvisioning, DatasourceProvisioning, dashboardQueries, readChecked, readDashboards } from '../../grafana/schema.js';
import { analyze } from './influxql-names.js';

const GRAFANA = 'grafana';
const datasources = readChecked(join(GRAFANA, 'provisioning/datasources/influxdb.yaml'), DatasourceProvisioning);
const providers = readChecked(join(GRAFANA, 'provisioning/dashboards/arena.yaml'), DashboardProvisioning);
const dashboards = readDashboards(join(GRAFANA, 'dashboards'));

/** What the device profiles can actually produce: a dashboard on anything else stays empty. */
const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86400e3, maxFutureMs: 3600e3 });
const produced = { reading: new Set<string>(), event: new Set<string>() };
for (const { profile } of profiles.decoders.values()) {
  for (const shape of shapesOf(profile)) {
    for (const r of shape.readings) produced.reading.add(r.measurement);
    for (const e of shape.events) for (const m of Object.values(e.map)) if (m) produced.event.add(m.event);
  }
}
const { catalogue } = profiles;

/** Allowed values per tag key, where the set is closed. */
const closedTags: Record<string, ReadonlySet<string>> = {
  family: new Set(catalogue.families.keys()),
  code: new Set(RejectionCodes),
  status: new Set(['accepted', 'rejected']),
};

describe('Grafana provisioning', () => {
  it('provisions one InfluxQL datasource whose settings all come from the environment', () => {
    expect(datasources.datasources).toHaveLength(1);
    const ds = datasources.datasources[0]!;
    expect(ds.jsonData.version).toBe('InfluxQL');
    // Grafana's own, consent-filtered database, read with a user that may read nothing else (stores/influx/grafana-mirror.ts).
    expect(ds.jsonData.dbName).toBe('${INFLUX_GRAFANA_DATABASE}');
    expect(ds.user).toBe('${INFLUX_GRAFANA_USER}');
    expect(ds.secureJsonData.password).toBe('${INFLUX_GRAFANA_PASSWORD}');
  });

  it('loads dashboards from the folder the compose file mounts them at', () => {
    expect(providers.providers.map((p) => p.options.path)).toEqual(['/var/lib/grafana/dashboards']);
  });

  it('has the five arena dashboards with unique uids, all on the provisioned datasource', () => {
    const uids = dashboards.map((d) => d.dashboard.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect([...uids].sort()).toEqual(['arena-device-health', 'arena-falls-bed', 'arena-fluid-balance', 'arena-medication', 'arena-site-overview']);
    const uid = datasources.datasources[0]!.uid;
    for (const { file, dashboard } of dashboards) {
      const refs = [
        ...dashboard.panels.flatMap((p) => [p.datasource, ...p.targets.map((t) => t.datasource)]),
        ...dashboard.templating.list.flatMap((v) => (v.type === 'query' ? [v.datasource] : [])),
      ];
      expect(
        refs.filter((r) => r.uid !== uid),
        file,
      ).toEqual([]);
      const ids = dashboard.panels.map((p) => p.id);
      expect(new Set(ids).size, `${file}: panel ids`).toBe(ids.length);
    }
  });
});

describe('dashboard queries', () => {
  it('name only measurements, tags and fields the InfluxDB adapter writes', () => {
    const problems: string[] = [];
    for (const { file, dashboard } of dashboards) {
      for (const { where, query } of dashboardQueries(dashboard)) {
        const at = `${file} ${where}`;
        const names = analyze(query);
        problems.push(...names.problems.map((p) => `${at}: ${p}`));
        const ms = [...names.measurements];
        if (ms.length === 0) problems.push(`${at}: reads no measurement`);
        for (const m of ms) if (!(m in SCHEMA)) problems.push(`${at}: no measurement "${m}" in stores/influx/schema.ts`);
        const known = new Set<string>(ms.filter((m): m is Measurement => m in SCHEMA).flatMap((m) => [...SCHEMA[m].tags, ...SCHEMA[m].fields]));
        for (const id of names.identifiers) {
          if (!known.has(id) && !names.aliases.has(id)) problems.push(`${at}: "${id}" is no tag or field of ${ms.join(', ')}`);
        }
        for (const [tag, values] of names.tagValues) {
          const allowed = closedTags[tag];
          for (const v of values) if (allowed && !allowed.has(v)) problems.push(`${at}: ${tag} '${v}' does not exist`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('name only catalogue measurements and events that some device profile produces', () => {
    const problems: string[] = [];
    let checked = 0;
    for (const { file, dashboard } of dashboards) {
      for (const { where, query } of dashboardQueries(dashboard)) {
        const names = analyze(query);
        const values = names.tagValues.get('name') ?? [];
        for (const m of names.measurements) {
          if (m !== 'reading' && m !== 'event') continue;
          const names: ReadonlyMap<string, unknown> = m === 'reading' ? catalogue.measurements : catalogue.events;
          for (const v of values) {
            checked++;
            if (!names.has(v)) problems.push(`${file} ${where}: ${m} '${v}' is not in the catalogue (catalogue/*.yaml)`);
            else if (!produced[m].has(v)) problems.push(`${file} ${where}: no profile produces ${m} '${v}'`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(20); // the check did look at the queries
  });

  it('the checks themselves catch what they should', () => {
    expect(produced.reading.has('body_weight') && produced.event.has('fall')).toBe(true);
    expect(produced.event.has('battery_low') || produced.event.has('lay_down')).toBe(false); // catalogued, never produced
    const bad = analyze(`SELECT value FROM "reading" WHERE "name" =~ /fall.*/ AND "nosuch" = 'x'`);
    expect(bad.problems).toEqual(['unquoted identifier or unknown word value', '"name" =~ /fall.*/ is not an anchored list such as /^(a|b)$/']);
    expect([...bad.identifiers]).toEqual(['name', 'nosuch']);
    const sub = analyze(`SELECT sum("ml") FROM (SELECT "value" AS "ml" FROM "reading" WHERE "name" =~ /^(a|b)$/), (SELECT "x" FROM "event") WHERE $timeFilter`);
    expect([...sub.measurements].sort()).toEqual(['event', 'reading']);
    expect(sub.tagValues.get('name')).toEqual(['a', 'b']);
    expect([...sub.aliases]).toEqual(['ml']);
  });
});
