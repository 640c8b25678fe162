import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Reading } from '../../kernel/telemetry.js';
import { T0, startApi, type ApiFixture } from '../api/fixture.js';
import { weightReading } from '../helpers/payloads.js';

/**
 * A reading's attributes (the fields a profile with `unmapped: keep` stores with it) are
 * part of GET /v1/devices/{id}/readings, released with the value and under its consent:
 * a vendor sees them only where the participant's vendor.telemetry consent covers the
 * reading, and not at all once it is withdrawn.
 */
let f: ApiFixture;
const AT = T0 + 20 * 60_000;
const reading = (messageId: bigint, participantId: string, attributes: Reading['attributes']): Reading =>
  weightReading(messageId, AT, { trialId: 'trial-1', participantId, ...(attributes ? { attributes } : {}) });

beforeAll(async () => {
  f = await startApi();
  await f.registry.enrolParticipant({ id: 'p-008', trialId: 'trial-1' });
  const points = [reading(9001n, 'p-007', { fw: '3.1.0', cuff: 'left', calibrated: true, battery_mv: 2950 }), reading(9002n, 'p-008', { fw: '3.1.0' })];
  await f.store.write({ messages: points.map((p) => ({ id: p.messageId, deviceId: p.deviceId, receivedAt: p.receivedAt })), points, rejections: [] });
});
afterAll(async () => f?.dispose());

const latest = async (token: string) => {
  const res = await f.call({ url: `/v1/devices/AQ-1/readings?name=body_weight&from=${AT}`, token });
  expect(res.statusCode).toBe(200);
  return res.json().items as { messageId: string; value: number; attributes?: Record<string, unknown> }[];
};

describe('reading attributes in GET /v1/devices/{id}/readings', () => {
  it('come with the value, as stored (strings, numbers, booleans)', async () => {
    // Both share a device time: their order is not the store's to keep.
    const items = (await latest(f.tokens.admin)).sort((a, b) => a.messageId.localeCompare(b.messageId));
    expect(items.map((r) => [r.messageId, r.attributes])).toEqual([
      ['9001', { fw: '3.1.0', cuff: 'left', calibrated: true, battery_mv: 2950 }],
      ['9002', { fw: '3.1.0' }],
    ]);
  });

  it("reach the vendor only with a reading the participant's consent releases", async () => {
    expect((await latest(f.tokens.vendorA)).map((r) => [r.messageId, r.attributes])).toEqual([
      ['9001', { fw: '3.1.0', cuff: 'left', calibrated: true, battery_mv: 2950 }],
    ]);
    const telemetry = (await f.registry.listConsents('p-007')).find((c) => c.scope === 'vendor.telemetry');
    expect(telemetry).toBeDefined();
    await f.registry.withdrawConsent(telemetry?.id ?? '', T0 + 10 * 60_000);
    expect(await latest(f.tokens.vendorA)).toEqual([]);
  });

  it('are absent from a reading stored without any', async () => {
    const res = await f.call({ url: `/v1/devices/AQ-1/readings?name=body_weight&to=${AT}`, token: f.tokens.admin });
    expect(res.json().items.length).toBeGreaterThan(0);
    for (const r of res.json().items) expect(r).not.toHaveProperty('attributes');
  });
});
