import mqtt, { type MqttClient } from 'mqtt';

/**
 * An MQTT 3.1.1 connection of the service account to the broker, as split ingest and the
 * split API open them: reconnecting by itself, with a keepalive that notices a dead
 * broker within a minute. `clean: false` for a session the broker must keep (messages
 * queued while the service is away), `true` for a publisher that keeps nothing.
 */
export function connectServiceClient(o: {
  readonly url: string;
  readonly clientId: string;
  readonly clean: boolean;
  readonly username: string;
  readonly password: string;
  readonly reconnectMs?: number;
}): MqttClient {
  return mqtt.connect(o.url, {
    clientId: o.clientId,
    clean: o.clean,
    username: o.username,
    password: o.password,
    protocolVersion: 4,
    reconnectPeriod: o.reconnectMs ?? 1000,
    connectTimeout: 10_000,
    keepalive: 30,
  });
}
