import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MqttClient } from 'mqtt';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { parseCsv } from '../helpers/datasets.js';
import { adminPost, fluidTrial, HOUR } from '../helpers/trial.js';

/**
 * Through the real broker and ingest: attribution happens when a message is received,
 * from the assignment valid then, and is stored with the point.
 */
let hub: TestHub;
let device: MqttClient;
let researcher: string;
let vendor: string;
const start = Date.now() - HOUR;

const weigh = (value: number) =>
  publish(device, 'devices/AQ-9/measurements', JSON.stringify({ serial: 'AQ-9', measured_at: new Date().toISOString(), kind: 'weight', value, unit: 'kg' }));

beforeAll(async () => {
  hub = await startTestHub();
  const trial = await fluidTrial(hub, { start, devices: [{ id: 'AQ-9', profileId: 'aquascale' }], participants: ['P-1'] });
  researcher = trial.researcher;
  vendor = (await adminPost(hub)('/v1/tokens', { role: 'vendor', vendorId: 'aqua', label: 'aqua' })).token;
  device = await connect(hub.mqttPort, 'AQ-9', trial.secrets.get('AQ-9')!);
});
afterAll(async () => {
  await end(device);
  await hub?.dispose();
});

describe('ingest-time attribution through MQTT', () => {
  it('attributes to the participant assigned when the message arrives, and never re-attributes', async () => {
    await weigh(70.1); // nobody assigned yet: device data of the trial
    const assignment = await hub.api('/v1/trials/fluid/assignments', {
      body: { deviceId: 'AQ-9', participantId: 'P-1', roomId: 'room-1', bed: 1, from: start },
    });
    expect(assignment.status).toBe(201);
    await weigh(70.2); // measures P-1
    expect((await hub.api(`/v1/assignments/${assignment.body.id}/end`, { body: {} })).status).toBe(200);
    await weigh(70.3); // nobody again

    const readings = (await hub.api('/v1/devices/AQ-9/readings')).body.items as {
      value: number;
      trialId: string;
      participantId: string | null;
      roomId: string;
    }[];
    const byValue = Object.fromEntries(readings.map((r) => [r.value, r]));
    expect(byValue[70.2]).toMatchObject({ trialId: 'fluid', participantId: 'P-1', roomId: 'room-1' });
    // The assignment's interval covers 70.1's time too, but 70.1 was stored before it existed.
    expect(byValue[70.1]).toMatchObject({ trialId: 'fluid', participantId: null });
    expect(byValue[70.3]).toMatchObject({ trialId: 'fluid', participantId: null });
  });

  it('the researcher gets the participant row with a pseudonym; the vendor gets device data only', async () => {
    const research = await hub.api('/v1/trials/fluid/dataset?format=csv', { token: researcher });
    expect(research.status).toBe(200);
    const rows = parseCsv(research.body);
    expect(rows.map((r) => Number(r.value))).toEqual([70.2]);
    expect(rows[0]!.pseudonym).toMatch(/^[0-9a-f]{20}$/);
    expect(research.body).not.toContain('P-1');

    const mine = await hub.api('/v1/trials/fluid/dataset?format=csv', { token: vendor });
    expect(parseCsv(mine.body).map((r) => Number(r.value))).toEqual([70.1, 70.3]);
  });
});
