import { rmSync } from 'node:fs';
import type { MqttClient } from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { adminPost, fluidTrial, HOUR } from '../helpers/trial.js';

/**
 * A device that was offline sends, after a participant's erasure, what it measured
 * before it. The all-in-one hub must not store it for the participant, neither when it
 * arrives nor after a restart (the journal and the erasure register are read again).
 * Attribution is by arrival and the erasure ended the assignment, so it is stored as the
 * device's data of the trial, with no participant (README, privacy: Limits).
 */
let hub: TestHub | undefined;
let device: MqttClient | undefined;
let firstDataDir: string | undefined;
afterAll(async () => {
  await end(device);
  await hub?.dispose();
  if (firstDataDir) rmSync(firstDataDir, { recursive: true, force: true });
});

const weight = (at: number, value: number) =>
  JSON.stringify({ serial: 'AQ-L1', measured_at: new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z'), kind: 'weight', value, unit: 'kg' });

describe('a late message of an erased participant', () => {
  it('is acknowledged but not stored for the participant, and stays so after a restart', { timeout: 120_000 }, async () => {
    hub = await startTestHub();
    const start = Date.now() - 2 * HOUR;
    const trial = await fluidTrial(hub, { start, devices: [{ id: 'AQ-L1', profileId: 'aquascale' }], participants: ['P-1'] });
    await adminPost(hub)('/v1/trials/fluid/assignments', { deviceId: 'AQ-L1', participantId: 'P-1', roomId: 'room-1', bed: 1, from: start });
    device = await connect(hub.mqttPort, 'AQ-L1', trial.secrets.get('AQ-L1')!, { clientId: 'AQ-L1' });
    const readings = async () => (await hub!.api('/v1/devices/AQ-L1/readings?limit=100')).body.items as { value: number; participantId: string | null }[];

    await publish(device, 'devices/AQ-L1/measurements', weight(Date.now() - HOUR, 71.5));
    await until('the reading is stored for P-1', async () => (await readings()).some((r) => r.value === 71.5 && r.participantId === 'P-1'));
    expect((await hub.api('/v1/participants/P-1/data', { method: 'DELETE' })).status).toBe(200);
    expect(await readings()).toEqual([]);

    // Measured an hour ago, inside the assignment, before the erasure; arrives now.
    await publish(device, 'devices/AQ-L1/measurements', weight(Date.now() - HOUR + 60_000, 72.25));
    await publish(device, 'devices/AQ-L1/measurements', weight(Date.now() - HOUR + 120_000, 72.5));
    const stats = async () => (await hub!.api('/v1/ingest/stats')).body;
    await until('both late messages are taken in', async () => (await stats()).storedMessages >= 3);
    expect((await readings()).filter((r) => r.participantId === 'P-1')).toEqual([]);

    // After a restart on the same data folder: not back either.
    await end(device);
    device = undefined;
    firstDataDir = hub.dataDir;
    await hub.stop();
    hub = await startTestHub({ ARENA_DATA_DIR: firstDataDir });
    expect((await readings()).filter((r) => r.participantId === 'P-1')).toEqual([]);
  });
});
