import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from '../helpers/hub.js';
import { connect, publish } from '../helpers/mqtt.js';
import { BEACON } from './beacon.js';
import { until } from '../helpers/poll.js';

// The done-when of the conformance kit: a simulated device (a real MQTT client against the
// real broker) passes a run; a faulty one fails the named checks. Runs of a few seconds.

let hub: TestHub;
let vendor: string;
let otherVendor: string;
const secrets: Record<string, string> = {};
beforeAll(async () => {
  hub = await startTestHub();
  expect((await hub.api('/v1/profiles', { body: { yaml: BEACON } })).status).toBe(201);
  for (const [id, name] of [
    ['beacon-devices', 'Beacon Devices'],
    ['other', 'Other AS'],
  ])
    expect((await hub.api('/v1/vendors', { body: { id, name } })).status).toBe(201);
  for (const id of ['BK-GOOD', 'BK-FAULTY']) {
    const created = await hub.api('/v1/devices', { body: { id, vendorId: 'beacon-devices', profileId: 'beacon' } });
    expect(created.status).toBe(201);
    secrets[id] = created.body.secret;
  }
  vendor = (await hub.api('/v1/tokens', { body: { role: 'vendor', vendorId: 'beacon-devices', label: 'beacon' } })).body.token;
  otherVendor = (await hub.api('/v1/tokens', { body: { role: 'vendor', vendorId: 'other', label: 'other' } })).body.token;
}, 60_000);
afterAll(async () => hub?.dispose());

interface Behaviour {
  readonly everyMs: number;
  readonly clockOffsetMs: number;
  readonly extraField: boolean;
  readonly will: boolean;
}

/** A device that publishes at QoS 1 until stopped, as its firmware would. */
async function simulate(id: string, b: Behaviour): Promise<{ stop(): Promise<void> }> {
  const client: MqttClient = await connect(hub.mqttPort, id, secrets[id]!, {
    keepalive: 30,
    ...(b.will ? { will: { topic: `devices/${id}/data`, payload: Buffer.from('{"t":0,"w":0}'), qos: 1, retain: false } } : {}),
  });
  let running = true;
  const loop = (async () => {
    while (running) {
      const payload = { t: Date.now() + b.clockOffsetMs, w: 72.4, bat: 88, ...(b.extraField ? { firmware_note: 'x' } : {}) };
      await publish(client, `devices/${id}/data`, JSON.stringify(payload));
      await new Promise((r) => setTimeout(r, b.everyMs)); // the device's reporting interval, which the run checks: not a wait
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      // A clean DISCONNECT: the will is dropped [MQTT-3.14.4-3].
      await new Promise<void>((r) => client.end(false, {}, () => r()));
    },
  };
}

async function finished(id: string): Promise<any> {
  return until(`conformance run ${id} finished`, async () => {
    const run = await hub.api(`/v1/conformance-runs/${id}`, { token: vendor });
    expect(run.status).toBe(200);
    return run.body.status !== 'running' && run.body;
  });
}

const outcome = (run: any, id: string): string => run.report.checks.find((c: any) => c.id === id)?.outcome;

describe('conformance run', () => {
  it('a well-behaved device passes; a faulty one fails the named checks, with evidence', { timeout: 60_000 }, async () => {
    const good = await simulate('BK-GOOD', { everyMs: 1000, clockOffsetMs: 0, extraField: false, will: true });
    const faulty = await simulate('BK-FAULTY', { everyMs: 2000, clockOffsetMs: 10 * 60_000, extraField: true, will: false });
    try {
      const started = await Promise.all(
        ['BK-GOOD', 'BK-FAULTY'].map((deviceId) => hub.api('/v1/conformance-runs', { token: vendor, body: { deviceId, durationS: 5 } })),
      );
      for (const s of started) expect(s.status).toBe(201);
      expect(started[0]!.body).toMatchObject({ deviceId: 'BK-GOOD', status: 'running', profileVersion: '1.0.0', report: null });
      const again = await hub.api('/v1/conformance-runs', { token: vendor, body: { deviceId: 'BK-GOOD', durationS: 5 } });
      expect(again.status).toBe(409);

      const [passRun, failRun] = await Promise.all(started.map((s) => finished(s.body.id)));

      expect(passRun.status, JSON.stringify(passRun.report.checks.filter((c: any) => c.outcome === 'fail'))).toBe('passed');
      for (const id of [
        'messages',
        'rejections',
        'declared-coverage',
        'reporting-interval',
        'clock-offset',
        'qos',
        'resends',
        'keepalive',
        'last-will',
        'offline',
        'battery',
      ])
        expect(outcome(passRun, id), id).toBe('pass');
      expect(passRun.report.summary.messages).toBeGreaterThanOrEqual(4);
      expect(passRun.report.hubVersion).toMatch(/^\d+\.\d+\.\d+$/);

      expect(failRun.status).toBe('failed');
      const failed = failRun.report.checks.filter((c: any) => c.outcome === 'fail').map((c: any) => c.id);
      expect(failed).toEqual(expect.arrayContaining(['rejections', 'reporting-interval', 'last-will', 'clock-offset']));
      for (const id of ['qos', 'keepalive', 'battery']) expect(outcome(failRun, id), id).toBe('pass');
      const rejections = failRun.report.checks.find((c: any) => c.id === 'rejections');
      expect(rejections.evidence.byCode.FIELD_UNMAPPED.examples[0]).toMatchObject({ path: 'firmware_note' });
      // Nobody is assigned to the device: its raw payload is device data, and kept as evidence.
      expect(rejections.evidence.byCode.FIELD_UNMAPPED.examples[0].payload).toContain('"firmware_note":"x"');
      expect(failRun.report.checks.find((c: any) => c.id === 'clock-offset').evidence.offsetMs.median).toBeGreaterThan(9 * 60_000);
      // Under load the run may see a single message of the slow device: no interval to measure, which fails the check too.
      expect(failRun.report.checks.find((c: any) => c.id === 'reporting-interval').evidence.medianS ?? Number.POSITIVE_INFINITY).toBeGreaterThan(1.5);

      const html = await hub.api(`/v1/conformance-runs/${failRun.id}/report.html`, { token: vendor });
      expect(html.status).toBe(200);
      expect(html.type).toContain('text/html');
      for (const text of ['BK-FAULTY', 'beacon 1.0.0', `arena-hub ${failRun.hubVersion}`, 'FAILED', '<svg', 'id="check-last-will"'])
        expect(html.body).toContain(text);

      const listed = await hub.api('/v1/conformance-runs', { token: vendor });
      expect(listed.body.items.map((r: any) => r.id).sort()).toEqual([passRun.id, failRun.id].sort());
    } finally {
      await good.stop();
      await faulty.stop();
    }
  });

  it('a resend after a lost connection is told from a stray duplicate; a session taken over by the same device stays connected', {
    timeout: 60_000,
  }, async () => {
    const created = await hub.api('/v1/devices', { body: { id: 'BK-RESEND', vendorId: 'beacon-devices', profileId: 'beacon' } });
    expect(created.status).toBe(201);
    const options = { keepalive: 30, will: { topic: 'devices/BK-RESEND/data', payload: Buffer.from('{"t":0,"w":0}'), qos: 1 as const, retain: false } };
    const first = await connect(hub.mqttPort, 'BK-RESEND', created.body.secret, options);
    const run = await hub.api('/v1/conformance-runs', { token: vendor, body: { deviceId: 'BK-RESEND', durationS: 3 } });
    expect(run.status).toBe(201);
    const message = JSON.stringify({ t: Date.now(), w: 70, bat: 80 });
    await publish(first, 'devices/BK-RESEND/data', message);
    // The same device connects again with its client id: the broker ends the older connection [MQTT-3.1.4-2].
    const second = await connect(hub.mqttPort, 'BK-RESEND', created.body.secret, options);
    await publish(second, 'devices/BK-RESEND/data', message);
    const devices = (await hub.api('/v1/vendor/devices', { token: vendor })).body.items;
    expect(devices.find((d: any) => d.id === 'BK-RESEND')).toMatchObject({ connected: true, keepaliveS: 30, will: true });
    await publish(second, 'devices/BK-RESEND/data', message);
    const ended = await finished(run.body.id);
    await new Promise<void>((r) => second.end(false, {}, () => r()));
    first.end(true);
    const resends = ended.report.checks.find((c: any) => c.id === 'resends');
    expect(resends.outcome).toBe('fail');
    expect(resends.evidence).toMatchObject({ duplicates: 2, afterReconnect: 1, connects: 1 });
    expect(ended.report.checks.find((c: any) => c.id === 'offline').evidence.episodes).toEqual([
      expect.objectContaining({ why: expect.stringMatching(/^disconnected/) }),
    ]);
  });

  it("another vendor's device or run answers 404 like a missing one; a clinician is refused", async () => {
    const runs = (await hub.api('/v1/conformance-runs')).body.items;
    expect(runs.length).toBeGreaterThan(0);
    expect((await hub.api(`/v1/conformance-runs/${runs[0].id}`, { token: otherVendor })).status).toBe(404);
    expect((await hub.api(`/v1/conformance-runs/${runs[0].id}/report.html`, { token: otherVendor })).status).toBe(404);
    expect((await hub.api('/v1/conformance-runs', { token: otherVendor, body: { deviceId: 'BK-GOOD', durationS: 5 } })).status).toBe(404);
    expect((await hub.api('/v1/conformance-runs', { token: otherVendor })).body.items).toEqual([]);
    expect((await hub.api('/v1/conformance-runs', { token: otherVendor, body: { deviceId: 'NOPE', durationS: 5 } })).status).toBe(404);
    await hub.api('/v1/sites', { body: { id: 'site-a', name: 'Ward A', kind: 'patient-room' } });
    const clinician = (await hub.api('/v1/tokens', { body: { role: 'clinician', siteIds: ['site-a'], label: 'nurse' } })).body.token;
    expect((await hub.api('/v1/conformance-runs', { token: clinician })).status).toBe(403);
  });
});
