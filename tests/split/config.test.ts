import { describe, expect, it } from 'vitest';
import { loadAdapterConfig, loadServiceAccount } from '../../service/config.js';
import { loadIngestConfig } from '../../ingest/config.js';

/** The split services' settings, parsed once at start. */
describe('split layout configuration', () => {
  it('requires the shared registry and names what InfluxDB is missing', () => {
    expect(() => loadAdapterConfig({})).toThrow(/ARENA_REGISTRY_URL/);
    expect(loadAdapterConfig({ ARENA_REGISTRY_URL: 'postgres://h/db' })).toEqual({ registryUrl: 'postgres://h/db', store: { kind: 'duckdb' } });
    expect(() => loadAdapterConfig({ ARENA_REGISTRY_URL: 'postgres://h/db', ARENA_STORE: 'influx', INFLUX_URL: 'http://i:8086' })).toThrow(/INFLUX_ORG/);
    expect(() => loadAdapterConfig({ ARENA_REGISTRY_URL: 'postgres://h/db', ARENA_STORE: 'mongo' })).toThrow(/ARENA_STORE/);
  });

  it('requires a service account secret of at least 16 characters', () => {
    expect(() => loadServiceAccount({})).toThrow(/BROKER_SERVICE_SECRET/);
    expect(() => loadServiceAccount({ BROKER_SERVICE_SECRET: 'short' })).toThrow(/at least 16/);
    expect(loadServiceAccount({ BROKER_SERVICE_SECRET: 'a-long-enough-secret' })).toEqual({ username: 'arena-ingest', secret: 'a-long-enough-secret' });
  });

  it("reads where ingest finds the broker from the broker's own variables", () => {
    expect(loadIngestConfig({ MQTT_HOST: 'broker', MQTT_PORT: '1883' }).broker).toEqual({ host: 'broker', port: 1883 });
    expect(loadIngestConfig({}).http).toBeUndefined();
    expect(loadIngestConfig({ INGEST_HTTP_PORT: '8081' }).http).toEqual({ host: '127.0.0.1', port: 8081 });
  });
});
