import { describe, expect, it } from 'vitest';
import { loadApiServiceConfig } from '../../api/config.js';

/** The split API's Grafana settings (api/config.ts), parsed once at start. */
const influx = {
  ARENA_REGISTRY_URL: 'postgres://h/db',
  ARENA_STORE: 'influx',
  INFLUX_URL: 'http://influxdb:8086',
  INFLUX_TOKEN: 't',
  INFLUX_ORG: 'arena',
  INFLUX_BUCKET: 'arena',
  INFLUX_DATABASE: 'arena',
  BROKER_SERVICE_SECRET: 'a-long-enough-secret',
};

describe("the API's Grafana bucket settings", () => {
  it('keep no copy unless a bucket is named', () => {
    expect(loadApiServiceConfig(influx).grafana).toBeUndefined();
  });

  it("take a bucket with its database, on InfluxDB only, and never the hub's own", () => {
    const grafana = { INFLUX_GRAFANA_BUCKET: 'arena-grafana', INFLUX_GRAFANA_DATABASE: 'arena-grafana' };
    expect(loadApiServiceConfig({ ...influx, ...grafana }).grafana).toEqual({ bucket: 'arena-grafana', database: 'arena-grafana' });
    expect(() => loadApiServiceConfig({ ...influx, INFLUX_GRAFANA_BUCKET: 'arena-grafana' })).toThrow(/go together/);
    expect(() => loadApiServiceConfig({ ...influx, ARENA_STORE: 'duckdb', ...grafana })).toThrow(/ARENA_STORE=influx/);
    expect(() => loadApiServiceConfig({ ...influx, INFLUX_GRAFANA_BUCKET: 'arena', INFLUX_GRAFANA_DATABASE: 'g' })).toThrow(/must not be the hub's own/);
    expect(() => loadApiServiceConfig({ ...influx, INFLUX_GRAFANA_BUCKET: 'g', INFLUX_GRAFANA_DATABASE: 'arena' })).toThrow(/must not be the hub's own/);
  });
});
