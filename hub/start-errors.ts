import { HubError } from '../kernel/errors.js';
import type { BrokerConfig } from '../broker/config.js';
import type { ApiConfig } from '../api/config.js';

/**
 * DuckDB's lock message, said as the operator needs it: which folder, which process. A
 * second hub on the same data folder stops here, before it touches anything.
 */
export function dataFolderHeld(e: unknown, dataDir: string): unknown {
  const m = /Could not set lock on file .*\(PID (\d+)\)/.exec((e as Error)?.message ?? '');
  if (!m) return e;
  return new HubError('CONFLICT', `another hub (process ${m[1]}) holds the data folder ${dataDir}: stop it first, or give this one another ARENA_DATA_DIR`, {
    cause: e,
  });
}

/** A port already in use, named by the variable that set it. */
export function portInUse(e: unknown, broker: BrokerConfig, api: ApiConfig): unknown {
  const err = e as NodeJS.ErrnoException & { port?: number };
  if (err?.code !== 'EADDRINUSE') return e;
  const vars: [string, number | undefined][] = [
    ['MQTT_PORT', broker.plain ? broker.mqttPort : undefined],
    ['MQTT_WS_PORT', broker.plain ? broker.wsPort : undefined],
    ['MQTT_TLS_PORT', broker.tls ? broker.tlsPort : undefined],
    ['MQTT_WSS_PORT', broker.tls ? broker.wssPort : undefined],
    ['API_PORT', api.port],
  ];
  const names = vars.filter(([, port]) => port !== undefined && port !== 0 && port === err.port).map(([name]) => name);
  if (names.length === 0) return e;
  return new HubError('CONFIG_INVALID', `port ${err.port} (${names.join(', ')}) is in use by another program: stop it or set ${names[0]} to a free port`, {
    cause: e,
  });
}
