import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleetIn } from '../../soak/arena.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';

/**
 * A device looping on an invalid 60 KB message (issue 25 item 2): every rejection is
 * stored and counted, the payload only for the first few per device, code and hour, so
 * the data folder grows by rows, not by payloads; the vendor still sees the first
 * examples whole.
 */
const FLOOD = 400;
const PAYLOAD_BYTES = 60_000;
const SAMPLES = 5;

let hub: TestHub;
beforeAll(async () => {
  // Quotas opened: this is about what is stored, not how fast the broker lets it in.
  hub = await startTestHub({
    INGEST_REJECTION_SAMPLES_PER_HOUR: String(SAMPLES),
    MQTT_DEVICE_BURST: String(FLOOD),
    MQTT_DEVICE_BYTES_PER_S: String(1 << 30),
    MQTT_DEVICE_BYTE_BURST: String(1 << 30),
  });
});
afterAll(async () => hub?.dispose());

const folderBytes = (dir: string): number =>
  readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? folderBytes(join(dir, e.name)) : statSync(join(dir, e.name)).size), 0);
/** What telemetry takes: the journal and the DuckDB file (the registry's audit of this test's own API calls aside). */
const telemetryBytes = (dataDir: string): number =>
  folderBytes(join(dataDir, 'journal')) +
  readdirSync(dataDir)
    .filter((f) => f.startsWith('telemetry.duckdb'))
    .reduce((n, f) => n + statSync(join(dataDir, f)).size, 0);

describe('a device flooding invalid messages', () => {
  it('grows the data folder by rows, not payloads; the vendor sees the first examples whole and every one counted', { timeout: 120_000 }, async () => {
    const [device] = await registerFleetIn(hub.registry, 1, 'FLOOD');
    const vendor = await hub.registry.issueToken({ role: 'vendor', vendorId: 'flood-vendor', label: 'flood test', expiresAt: null });
    const before = telemetryBytes(hub.dataDir);
    const client = await connect(hub.mqttPort, device!.deviceId, device!.secret);
    try {
      // Not JSON, and not compressible: what a looping firmware might send.
      const payloads = Array.from({ length: FLOOD }, (_, i) => `#${i}#${randomBytes(PAYLOAD_BYTES / 2).toString('hex')}`.slice(0, PAYLOAD_BYTES));
      await Promise.all(payloads.map((p) => publish(client, `devices/${device!.deviceId}/measurements`, p)));
    } finally {
      await end(client);
    }

    const summary = await hub.api('/v1/rejections/summary', { token: vendor.token });
    expect(summary.body).toMatchObject({ total: FLOOD, counts: { PAYLOAD_NOT_JSON: FLOOD } });
    const listed = (await hub.api(`/v1/rejections?limit=${FLOOD}`, { token: vendor.token })).body.items as { payload: string }[];
    const whole = listed.filter((r) => r.payload.length === PAYLOAD_BYTES);
    expect(whole).toHaveLength(SAMPLES);
    // The first ones are the examples kept.
    expect(whole.map((r) => Number(/^#(\d+)#/.exec(r.payload)![1])).sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4]);
    expect(listed.filter((r) => r.payload.startsWith('[payload not kept'))).toHaveLength(FLOOD - SAMPLES);

    await hub.stop();
    const grown = telemetryBytes(hub.dataDir) - before;
    console.log(`[flood] ${FLOOD} invalid messages of ${PAYLOAD_BYTES} bytes grew the journal and telemetry file by ${(grown / 1e6).toFixed(1)} MB`);
    // Whole payloads would be FLOOD × 60 KB = 24 MB; the sample is 5 × 60 KB.
    expect(grown).toBeLessThan(3_000_000);
  });
});
