import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';

/** Connects and resolves on CONNACK; rejects with the broker's refusal. Never reconnects by itself. */
export function connect(port: number, username: string, password: string, extra: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, username, password, clientId: username, reconnectPeriod: 0, connectTimeout: 5000, ...extra });
    client.once('connect', () => resolve(client));
    client.once('error', (e) => {
      client.end(true);
      reject(e);
    });
  });
}

export const publish = (c: MqttClient, topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> =>
  new Promise((resolve, reject) => c.publish(topic, payload, { qos }, (e) => (e ? reject(e) : resolve())));

export const end = (c: MqttClient | undefined): Promise<void> => new Promise((r) => (c ? c.end(true, {}, () => r()) : r()));
