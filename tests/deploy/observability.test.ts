import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createHubMetrics } from '../../kernel/metrics.js';

/**
 * Prometheus and the hub-health dashboard against what compose runs and what the hub
 * exposes: every scrape target is a service's metrics port, every metric a panel asks
 * for is one the hub registers.
 */
const ROOT = process.cwd();
const yaml = (file: string) => parse(readFileSync(join(ROOT, file), 'utf8'));
const compose = yaml('docker-compose.yml');
const prometheus = yaml('prometheus/prometheus.yml') as {
  scrape_configs: {
    job_name: string;
    scheme?: string;
    metrics_path?: string;
    authorization?: { type: string; credentials_file: string };
    static_configs: { targets: string[] }[];
  }[];
};
const env = (service: string): Record<string, string> => compose.services[service].environment;
const job = (name: string) => prometheus.scrape_configs.find((j) => j.job_name === name);
const dashboard = JSON.parse(readFileSync(join(ROOT, 'grafana/dashboards-ops/hub-health.json'), 'utf8')) as {
  uid: string;
  panels: { id: number; datasource: { uid: string }; targets: { datasource: { uid: string }; expr: string }[] }[];
};

describe('Prometheus in compose', () => {
  it('runs a pinned Prometheus on the mounted config, reachable by operators on loopback only', () => {
    const p = compose.services.prometheus;
    expect(p.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    const script = p.command.join('\n') as string;
    const configFile = /--config\.file=(\S+)/.exec(script)?.[1];
    expect(p.volumes).toContain(`./prometheus/prometheus.yml:${configFile}:ro`);
    expect(p.ports.every((port: string) => port.startsWith('127.0.0.1:'))).toBe(true);
  });

  it("scrapes the API's /metrics over HTTPS with the token file the service writes from API_METRICS_TOKEN", () => {
    const api = job('arena-api')!;
    expect(api.scheme).toBe('https');
    expect(api.metrics_path).toBe('/metrics');
    expect(api.static_configs[0]!.targets).toEqual([`api:${env('api').API_PORT}`]);
    expect(env('api').API_METRICS_TOKEN).toBe('${API_METRICS_TOKEN}');
    expect(env('prometheus').API_METRICS_TOKEN).toBe('${API_METRICS_TOKEN}');
    expect(api.authorization?.type).toBe('Bearer');
    expect(compose.services.prometheus.command.join('\n')).toContain(`> ${api.authorization!.credentials_file}`);
  });

  it("scrapes the broker's and ingest's own metrics ports", () => {
    expect(job('arena-broker')!.static_configs[0]!.targets).toEqual([`broker:${env('broker').BROKER_METRICS_PORT}`]);
    expect(job('arena-ingest')!.static_configs[0]!.targets).toEqual([`ingest:${env('ingest').INGEST_HTTP_PORT}`]);
    expect(compose.services.broker.ports).not.toContain(expect.stringContaining(env('broker').BROKER_METRICS_PORT!));
  });
});

describe('the hub-health dashboard', () => {
  it('is provisioned from the folder compose mounts, on the Prometheus datasource', () => {
    const provider = yaml('grafana/provisioning/dashboards/operations.yaml').providers[0];
    expect(compose.services.grafana.volumes).toContain(`./grafana/dashboards-ops:${provider.options.path}:ro`);
    const ds = yaml('grafana/provisioning/datasources/prometheus.yaml').datasources[0];
    expect(ds.url).toBe(`http://prometheus:${compose.services.prometheus.ports[0].split(':').pop()}`);
    const refs = dashboard.panels.flatMap((p) => [p.datasource.uid, ...p.targets.map((t) => t.datasource.uid)]);
    expect(new Set(refs)).toEqual(new Set([ds.uid]));
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  });

  it('asks only for metrics the hub registers', async () => {
    const metrics = createHubMetrics({
      ingest: () => ({ accepted: 0, rejectedByCode: {}, acknowledged: 0, duplicates: 0, failedMessages: 0 }),
      journal: () => ({ waitingBytes: 0, setAsideMessages: 0, storeFailing: false }),
      broker: () => ({ connections: 0, inFlight: 0, heldConnections: 0 }),
      openAlarms: async () => [],
    });
    metrics.countLiveStreams(() => 0);
    const registered = new Set((await metrics.registry.getMetricsAsJSON()).map((m) => m.name));
    const asked = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\b((?:arena|process|nodejs)_[a-z0-9_]+)/g)].map((m) => m[1]!)));
    expect(asked.length).toBeGreaterThan(0);
    const unknown = asked.filter((name) => !registered.has(name) && !registered.has(name.replace(/_(bucket|sum|count)$/, '')));
    expect(unknown).toEqual([]);
  });
});
