import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerFleetIn } from '../../soak/arena.js';
import { messageOf, TOPIC } from '../../soak/fleet.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { until } from '../helpers/poll.js';

/**
 * Quotas with two real mqtt.js clients (issue 25 item 1): a device flooding 60 KB
 * messages is slowed by its byte quota, then, still over it, disconnected with the
 * reason logged and counted; a neighbour of the same vendor within its quota is never
 * slowed (no message of its paced) and has every message acknowledged and stored.
 * Latency figures are measured by bench/quota-flood.ts, not asserted here.
 */
let hub: TestHub;
beforeAll(async () => {
  hub = await startTestHub({ MQTT_DEVICE_BYTES_PER_S: '50000', MQTT_DEVICE_BYTE_BURST: '200000', MQTT_QUOTA_DISCONNECT_AFTER_MS: '2000' });
});
afterAll(async () => hub?.dispose());

interface QuotaStats {
  pacedMessages: number;
  disconnects: number;
  devices: { deviceId: string; paced: number; disconnects: number }[];
  vendors: { vendorId: string; paced: number; disconnects: number }[];
}
const quotaStats = async (): Promise<QuotaStats> => (await hub.api('/v1/ingest/stats')).body.quota as QuotaStats;

describe('per-device quotas', () => {
  it('slow, then disconnect, a device flooding over its byte quota; a neighbour within its quota is not slowed', { timeout: 120_000 }, async () => {
    const [flooder, steady] = await registerFleetIn(hub.registry, 2, 'QUOTA');
    const flood = await connect(hub.mqttPort, flooder!.deviceId, flooder!.secret);
    const neighbour = await connect(hub.mqttPort, steady!.deviceId, steady!.secret);
    let closed = false;
    flood.on('close', () => (closed = true));
    try {
      const big = `not json ${randomBytes(30_000).toString('hex')}`;
      // As fast as mqtt.js takes them (never acknowledged once the broker cuts the connection).
      for (let i = 0; i < 200; i++) void publish(flood, TOPIC(flooder!.deviceId), big).catch(() => undefined);

      const baseTime = Date.now() - 60_000;
      for (let seq = 0; seq < 40; seq++) await publish(neighbour, TOPIC(steady!.deviceId), messageOf(steady!.deviceId, seq, { baseTime }));
      await until('the flooding device is disconnected', () => closed);

      const stats = await quotaStats();
      const mine = (id: string) => stats.devices.find((d) => d.deviceId === id);
      expect(mine(flooder!.deviceId)).toMatchObject({ disconnects: 1 });
      expect(mine(flooder!.deviceId)!.paced).toBeGreaterThan(0);
      expect(mine(steady!.deviceId)).toBeUndefined();
      expect(stats.vendors).toEqual([expect.objectContaining({ vendorId: 'quota-vendor', disconnects: 1 })]);
      // The vendor sees its own device's quota steps beside its rejections.
      const vendor = (await hub.registry.issueToken({ role: 'vendor', vendorId: 'quota-vendor', label: 'vendor', expiresAt: null })).token;
      const summary = await hub.api('/v1/rejections/summary', { token: vendor });
      expect(summary.status).toBe(200);
      expect(summary.body.quota).toEqual([{ deviceId: flooder!.deviceId, paced: mine(flooder!.deviceId)!.paced, disconnects: 1 }]);
      const stored = await hub.api(`/v1/devices/${steady!.deviceId}/readings?limit=100`);
      expect(stored.status).toBe(200);
      expect(stored.body.items).toHaveLength(40);
    } finally {
      await end(flood);
      await end(neighbour);
    }
  });
});
