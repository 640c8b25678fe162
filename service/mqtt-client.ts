import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/**
 * How a service reaches the broker over TLS (MQTT_TLS_* in service/config.ts): the CA it
 * trusts for the broker's certificate, the name that certificate is checked against when
 * the service reaches the broker by another one (compose: `broker`, while the
 * certificate names the arena's public host), and a client certificate for a broker
 * that asks for one.
 */
export interface ServiceTls {
  readonly caFile: string;
  readonly serverName?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/** Where a split service reaches the broker: mqtts://host:MQTT_TLS_PORT with `tls`, mqtt://host:MQTT_PORT without. */
export interface ServiceBroker {
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly tls: ServiceTls | undefined;
}

const read = (what: string, file: string): Buffer => {
  try {
    return readFileSync(file);
  } catch (e) {
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`, { cause: e });
  }
};

/**
 * The TLS options of the connection, read once at start: a CA is replaced far more rarely
 * than a server certificate, and a renewed client certificate is taken at the next start.
 * The CA replaces Node's public roots rather than adding to them, so only a broker whose
 * certificate that CA issued is trusted; rejectUnauthorized stays on (mqtt.js's default).
 */
function tlsOptions(tls: ServiceTls): IClientOptions {
  return {
    ca: read('MQTT_TLS_CA_FILE', tls.caFile),
    rejectUnauthorized: true,
    ...(tls.serverName ? { servername: tls.serverName } : {}),
    ...(tls.certFile && tls.keyFile ? { cert: read('MQTT_TLS_CLIENT_CERT_FILE', tls.certFile), key: read('MQTT_TLS_CLIENT_KEY_FILE', tls.keyFile) } : {}),
  };
}

/**
 * An MQTT 3.1.1 connection of the service account to the broker, as split ingest and the
 * split API open them: reconnecting by itself, with a keepalive that notices a dead
 * broker within a minute. `clean: false` for a session the broker must keep (messages
 * queued while the service is away), `true` for a publisher that keeps nothing. With
 * `tls` the url is mqtts:// and the broker's certificate must verify against its CA.
 */
export function connectServiceClient(o: {
  readonly url: string;
  readonly tls?: ServiceTls | undefined;
  readonly clientId: string;
  readonly clean: boolean;
  readonly username: string;
  readonly password: string;
  readonly reconnectMs?: number | undefined;
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
    ...(o.tls ? tlsOptions(o.tls) : {}),
  });
}
