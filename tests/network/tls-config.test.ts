import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listenOptions, loadBrokerConfig } from '../../broker/config.js';
import { loadApiConfig } from '../../api/config.js';

describe('TLS settings', () => {
  it('turns the TLS listeners on with a certificate and key, and the plain ones off on request', () => {
    const env = {
      TLS_CERT_FILE: 'certs/tls.crt',
      TLS_KEY_FILE: 'certs/tls.key',
      MQTT_DEVICE_CA_FILE: 'certs/ca.crt',
      MQTT_PLAIN: 'off',
      TLS_RELOAD_CHECK_MS: '500',
    };
    const broker = loadBrokerConfig(env);
    expect(broker.tls).toEqual({
      certFile: resolve('certs/tls.crt'),
      keyFile: resolve('certs/tls.key'),
      clientCaFile: resolve('certs/ca.crt'),
      reloadCheckMs: 500,
    });
    expect(listenOptions(broker)).toEqual({ host: '127.0.0.1', tlsPort: 8883, wssPort: 8884 });
    expect(loadApiConfig(env).tls).toEqual({ certFile: resolve('certs/tls.crt'), keyFile: resolve('certs/tls.key'), reloadCheckMs: 500 });
    expect(listenOptions(loadBrokerConfig({}))).toEqual({ host: '127.0.0.1', mqttPort: 1883, wsPort: 9001 });
    expect(loadApiConfig({}).tls).toBeUndefined();
  });

  it('names the variable that does not fit', () => {
    expect(() => loadBrokerConfig({ MQTT_PLAIN: 'no' })).toThrow(/MQTT_PLAIN: must be on or off/);
    expect(() => loadBrokerConfig({ TLS_CERT_FILE: 'a.crt' })).toThrow(/TLS_KEY_FILE: TLS_CERT_FILE and TLS_KEY_FILE go together/);
    expect(() => loadBrokerConfig({ MQTT_PLAIN: 'off' })).toThrow(/MQTT_PLAIN: off needs TLS_CERT_FILE/);
    expect(() => loadBrokerConfig({ MQTT_DEVICE_CA_FILE: 'ca.crt' })).toThrow(/MQTT_DEVICE_CA_FILE: device certificates travel over TLS/);
    expect(() => loadApiConfig({ TLS_KEY_FILE: 'a.key' })).toThrow(/TLS_CERT_FILE: TLS_CERT_FILE and TLS_KEY_FILE go together/);
  });
});
