import type { MqttClient } from 'mqtt';
import { expect } from 'vitest';
import { fhirErrors } from '../../fhir/validate.js';
import type { TestHub } from '../helpers/hub.js';
import { connect } from '../helpers/mqtt.js';

/** The arena the FHIR tests read: one ward, a scale and a room sensor assigned to P-1, P-1 consenting to every scope, P-2 to research only. */
export const SYSTEM = 'urn:oid:2.16.578.1.12.4.1.7.424242';
export const MIN = 60_000;

export interface Arena {
  readonly start: number;
  readonly tokens: { clinician: string; researcher: string; vendor: string };
  readonly secrets: { readonly scale: string; readonly sensor: string };
  readonly scale: MqttClient;
  readonly sensor: MqttClient;
}

export async function buildArena(hub: { api: TestHub['api']; mqttPort: number }): Promise<Arena> {
  const post = async (path: string, body: unknown): Promise<any> => {
    const res = await hub.api(path, { body });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBeLessThan(300);
    return res.body;
  };
  const start = Date.now() - 60 * MIN;
  await post('/v1/sites', { id: 'ward', name: 'Ward', kind: 'patient-room' });
  await post('/v1/sites/ward/rooms', { id: 'room-1', name: 'Room 1', beds: 2 });
  await post('/v1/vendors', { id: 'aqua', name: 'AquaScale' });
  await post('/v1/vendors', { id: 'rsense', name: 'RoomSense' });
  const aq = await post('/v1/devices', { id: 'AQ-1', vendorId: 'aqua', profileId: 'aquascale', roomId: 'room-1', label: 'Scale bed 1' });
  const rs = await post('/v1/devices', { id: 'RS-1', vendorId: 'rsense', profileId: 'roomsense-3d', roomId: 'room-1' });
  await post('/v1/trials', {
    id: 'fluid',
    name: 'Fluid balance',
    siteId: 'ward',
    vendorIds: ['aqua', 'rsense'],
    protocolRef: 'REK 2026/1',
    period: { from: start, to: start + 30 * 86_400_000 },
  });
  for (const id of ['P-1', 'P-2']) await post('/v1/trials/fluid/participants', { id });
  for (const scope of ['care.live', 'research', 'vendor.telemetry'])
    await post('/v1/participants/P-1/consents', { scope, grantedAt: start + MIN, formVersion: 'v1' });
  await post('/v1/participants/P-2/consents', { scope: 'research', grantedAt: start + MIN, formVersion: 'v1' });
  for (const deviceId of ['AQ-1', 'RS-1'])
    await post('/v1/trials/fluid/assignments', { deviceId, participantId: 'P-1', roomId: 'room-1', bed: 1, from: start + 2 * MIN });
  const token = async (body: object): Promise<string> => (await post('/v1/tokens', { label: 'integration', ...body })).token;
  return {
    start,
    tokens: {
      clinician: await token({ role: 'clinician', siteIds: ['ward'] }),
      researcher: await token({ role: 'researcher', trialIds: ['fluid'] }),
      vendor: await token({ role: 'vendor', vendorId: 'aqua' }),
    },
    secrets: { scale: aq.secret, sensor: rs.secret },
    scale: await connect(hub.mqttPort, 'AQ-1', aq.secret),
    sensor: await connect(hub.mqttPort, 'RS-1', rs.secret),
  };
}

export const weighing = (at: number, grams: number): string =>
  JSON.stringify({ serial: 'AQ-1', measured_at: new Date(at).toISOString(), kind: 'weight', value: grams, unit: 'g' });
export const intake = (at: number, ml: number): string =>
  JSON.stringify({ serial: 'AQ-1', measured_at: new Date(at).toISOString(), kind: 'intake', value: ml, unit: 'ml', source: 'drink' });
export const fall = (at: number): string =>
  JSON.stringify({ sensor: 'RS-1', time: at, fw: '2.4.1', event: { type: 'FALL_DETECTED', confidence: 0.94, zone: 'floor-bedside' } });

/** Every resource in a FHIR answer (the answer itself, and each entry of a Bundle), checked by the validator. */
export function validated(body: any): any[] {
  const resources = body?.resourceType === 'Bundle' ? (body.entry ?? []).map((e: { resource: unknown }) => e.resource) : [];
  for (const r of [body, ...resources]) expect(fhirErrors(r), JSON.stringify(r)).toEqual([]);
  return resources;
}
