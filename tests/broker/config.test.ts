import { describe, expect, it } from 'vitest';
import { loadBrokerConfig } from '../../broker/config.js';

describe('loadBrokerConfig', () => {
  it('applies the defaults and freezes the result', () => {
    const c = loadBrokerConfig({ PATH: '/usr/bin' });
    expect(c).toEqual({
      host: '127.0.0.1',
      mqttPort: 1883,
      wsPort: 9001,
      plain: true,
      tlsPort: 8883,
      wssPort: 8884,
      tls: undefined,
      metricsPort: undefined,
      limits: { maxPayloadBytes: 65536, maxPacketBytes: 262144, maxTopicLength: 256, maxTopicLevels: 8 },
      connections: { connectTimeoutMs: 10_000, maxConnections: 10_000 },
      publishRate: { perSecond: 100, burst: 500 },
      inFlight: { perConnection: 64, total: 10_000 },
      quota: {
        deviceBytes: { perSecond: 262_144, burst: 2_097_152 },
        vendor: { messages: { perSecond: 50_000, burst: 250_000 }, bytes: { perSecond: 67_108_864, burst: 268_435_456 } },
        disconnectAfterMs: 60_000,
      },
    });
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.inFlight)).toBe(true);
    expect(Object.isFrozen(c.connections)).toBe(true);
    expect(Object.isFrozen(c.limits)).toBe(true);
  });

  it('reads every variable', () => {
    const c = loadBrokerConfig({
      MQTT_HOST: '0.0.0.0',
      MQTT_PORT: '0',
      MQTT_WS_PORT: '9002',
      MQTT_MAX_PAYLOAD_BYTES: '1000',
      MQTT_MAX_PACKET_BYTES: '2000',
      MQTT_MAX_TOPIC_LENGTH: '64',
      MQTT_MAX_TOPIC_LEVELS: '4',
      MQTT_CONNECT_TIMEOUT_MS: '500',
      MQTT_MAX_CONNECTIONS: '50',
      MQTT_DEVICE_RATE: '10',
      MQTT_DEVICE_BURST: '20',
      MQTT_CONNECTION_MAX_IN_FLIGHT: '8',
      MQTT_MAX_IN_FLIGHT: '100',
      MQTT_DEVICE_BYTES_PER_S: '1000',
      MQTT_DEVICE_BYTE_BURST: '4000',
      MQTT_VENDOR_RATE: '50',
      MQTT_VENDOR_BURST: '60',
      MQTT_VENDOR_BYTES_PER_S: '5000',
      MQTT_VENDOR_BYTE_BURST: '6000',
      MQTT_QUOTA_DISCONNECT_AFTER_MS: '0',
    });
    expect(c).toEqual({
      host: '0.0.0.0',
      mqttPort: 0,
      wsPort: 9002,
      plain: true,
      tlsPort: 8883,
      wssPort: 8884,
      tls: undefined,
      metricsPort: undefined,
      limits: { maxPayloadBytes: 1000, maxPacketBytes: 2000, maxTopicLength: 64, maxTopicLevels: 4 },
      connections: { connectTimeoutMs: 500, maxConnections: 50 },
      publishRate: { perSecond: 10, burst: 20 },
      inFlight: { perConnection: 8, total: 100 },
      quota: {
        deviceBytes: { perSecond: 1000, burst: 4000 },
        vendor: { messages: { perSecond: 50, burst: 60 }, bytes: { perSecond: 5000, burst: 6000 } },
        disconnectAfterMs: 0,
      },
    });
  });

  it('refuses an empty value instead of taking the default (an empty port would mean 0, a random port)', () => {
    expect(() => loadBrokerConfig({ MQTT_WS_PORT: '' })).toThrow(/^MQTT_WS_PORT: must be a whole number from 0 to 65535$/);
    expect(() => loadBrokerConfig({ MQTT_HOST: ' ' })).toThrow(/^MQTT_HOST: must not be empty$/);
  });

  it('names every bad variable', () => {
    expect(() => loadBrokerConfig({ MQTT_PORT: '0x10', MQTT_WS_PORT: '70000', MQTT_MAX_TOPIC_LEVELS: '101', MQTT_MAX_IN_FLIGHT: '0' })).toThrow(
      /MQTT_PORT: must be a whole number[\s\S]*MQTT_WS_PORT[\s\S]*MQTT_MAX_TOPIC_LEVELS[\s\S]*MQTT_MAX_IN_FLIGHT/,
    );
    expect(() => loadBrokerConfig({ MQTT_MAX_PAYLOAD_BYTES: '5000', MQTT_MAX_PACKET_BYTES: '4000' })).toThrow(/MQTT_MAX_PAYLOAD_BYTES: must not exceed/);
  });
});
