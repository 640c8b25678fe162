import { join } from 'node:path';
import { tallyStore, type Tally } from '../../soak/count.js';
import { Fleet, type FleetDevice } from '../../soak/fleet.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';

/** A fleet for the broker on `mqttPort`: `perDevice` messages a device, `intervalMs` apart, dated from an hour ago. Not started. */
export function fleetOf(mqttPort: number, devices: readonly FleetDevice[], perDevice: number, intervalMs: number): Fleet {
  return new Fleet({ url: `mqtt://127.0.0.1:${mqttPort}`, devices, messagesPerDevice: perDevice, intervalMs, baseTime: Date.now() - 3_600_000 });
}

/** What `fleet` had acknowledged against what the DuckDB file in `dataDir` holds; the hub that wrote it has stopped. */
export async function tallyDuckDb(dataDir: string, fleet: Fleet): Promise<Tally> {
  const store = await openDuckDbTelemetryStore({ path: join(dataDir, 'telemetry.duckdb') });
  try {
    return await tallyStore(store, fleet.tallies);
  } finally {
    await store.close();
  }
}
