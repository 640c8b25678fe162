import { describe, expect, it } from 'vitest';
import { loadApiServiceConfig } from '../../api/config.js';
import { loadBrokerServiceConfig } from '../../broker/config.js';
import { loadHubProcessConfig } from '../../hub/config.js';
import { loadIngestServiceConfig } from '../../ingest/config.js';
import { isHubError } from '../../kernel/errors.js';

/** Every process parses its environment once, with one schema built from service/config.ts's pieces. */
const problems = (load: () => unknown): string[] => {
  try {
    load();
  } catch (e) {
    if (isHubError(e) && e.code === 'CONFIG_INVALID') return e.message.split('\n');
    throw e;
  }
  throw new Error('the configuration was accepted');
};

const SPLIT = { ARENA_REGISTRY_URL: 'postgres://h/db', BROKER_SERVICE_SECRET: 'a-long-enough-secret' };

describe('configuration', () => {
  it('reports every invalid variable of the all-in-one hub at once, each with the values it accepts', () => {
    expect(
      problems(() =>
        loadHubProcessConfig({
          LOG_LEVEL: 'loud',
          ARENA_DISK_CHECK_MS: '5',
          MQTT_PORT: '0x10',
          INGEST_MAX_BATCH: '',
          API_PORT: '70000',
          ALARM_TIME_ZONE: 'Mars/Base',
          MQTT_MAX_PAYLOAD_BYTES: '5000',
          MQTT_MAX_PACKET_BYTES: '4000',
        }),
      ).sort(),
    ).toEqual(
      [
        'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
        'ARENA_DISK_CHECK_MS: must be a whole number from 10 to 60000',
        'MQTT_PORT: must be a whole number from 0 to 65535',
        'INGEST_MAX_BATCH: must be a whole number from 1 to 1000000',
        'API_PORT: must be a whole number from 0 to 65535',
        'ALARM_TIME_ZONE: must be an IANA time zone such as Europe/Oslo',
        'MQTT_MAX_PAYLOAD_BYTES: must not exceed MQTT_MAX_PACKET_BYTES (a payload travels inside one packet)',
      ].sort(),
    );
  });

  it('takes an empty value as an error, not as the default', () => {
    expect(problems(() => loadHubProcessConfig({ LOG_LEVEL: '', ARENA_DATA_DIR: '', MQTT_WS_PORT: '' })).sort()).toEqual([
      'ARENA_DATA_DIR: must not be empty',
      'LOG_LEVEL: must be one of fatal, error, warn, info, debug, trace, silent',
      'MQTT_WS_PORT: must be a whole number from 0 to 65535',
    ]);
  });

  it('parses MQTT_PORT by one rule in every process that reads it', () => {
    for (const load of [loadBrokerServiceConfig, loadIngestServiceConfig, loadApiServiceConfig]) {
      expect(problems(() => load({ ...SPLIT, MQTT_PORT: ' 1883' }))).toEqual(['MQTT_PORT: must be a whole number from 0 to 65535']);
      expect(load({ ...SPLIT, MQTT_PORT: '1884' }).process.logLevel).toBe('info');
    }
    expect(loadIngestServiceConfig({ ...SPLIT, MQTT_PORT: '1884' }).ingest.broker.port).toBe(1884);
    expect(loadApiServiceConfig({ ...SPLIT, MQTT_PORT: '1884' }).feed.broker.port).toBe(1884);
    expect(loadBrokerServiceConfig({ ...SPLIT, MQTT_PORT: '1884' }).broker.mqttPort).toBe(1884);
  });

  it('names everything a split service lacks at once', () => {
    expect(
      problems(() => loadBrokerServiceConfig({}))
        .map((l) => l.split(':')[0])
        .sort(),
    ).toEqual(['ARENA_REGISTRY_URL', 'BROKER_SERVICE_SECRET']);
    expect(problems(() => loadIngestServiceConfig({ ...SPLIT, ARENA_STORE: 'influx', INFLUX_URL: 'http://i:8086', INGEST_HTTP_PORT: 'x' })).sort()).toEqual([
      'INFLUX_BUCKET: is required with ARENA_STORE=influx',
      'INFLUX_DATABASE: is required with ARENA_STORE=influx',
      'INFLUX_ORG: is required with ARENA_STORE=influx',
      'INGEST_HTTP_PORT: must be a whole number from 0 to 65535',
    ]);
  });

  it("leaves the API's audit key to its key file when ARENA_AUDIT_KEY is empty (compose passes it blank), and refuses a short one", () => {
    expect(loadApiServiceConfig({ ...SPLIT, ARENA_AUDIT_KEY: '' }).api.auditKey).toBeUndefined();
    expect(loadApiServiceConfig({ ...SPLIT, ARENA_AUDIT_KEY: Buffer.alloc(32, 7).toString('base64') }).api.auditKey).toEqual(Buffer.alloc(32, 7));
    expect(problems(() => loadApiServiceConfig({ ...SPLIT, ARENA_AUDIT_KEY: 'c2hvcnQ=' }))).toEqual([
      'ARENA_AUDIT_KEY: must be base64 of at least 32 bytes, or unset for a key file in the data folder',
    ]);
  });
});
