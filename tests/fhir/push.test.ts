import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hubPorts, startHubProcess, type HubPorts, type Service } from '../../soak/processes.js';
import { apiCaller, type TestHub } from '../helpers/hub.js';
import { connect, end, publish } from '../helpers/mqtt.js';
import { until } from '../helpers/poll.js';
import { startReceiver, type Receiver } from './receiver.js';
import { type Arena, MIN, SYSTEM, buildArena, fall, validated, weighing } from './world.js';

/**
 * The FHIR push of the all-in-one hub (dist/hub/main.js: `npm run build` first), as a
 * child process, against a local FHIR server stand-in that refuses with 503 for a while.
 * Readings and a fall go in through the broker during the outage, the hub is stopped
 * with SIGTERM and started again in the middle of it, more readings follow; once the
 * server accepts, every one arrives, in order, once. A withdrawal while an entry waits
 * stops its release.
 */
let receiver: Receiver;
let service: Service;
let ports: HubPorts;
let arena: Arena;
let scale: MqttClient | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'fhir-push-'));
const logDir = mkdtempSync(join(tmpdir(), 'fhir-push-log-'));
const logFile = join(logDir, 'hub.log');

const start = (): Promise<Service> =>
  startHubProcess({
    dataDir,
    ports,
    logFile,
    env: { FHIR_PUSH_URL: receiver.url, FHIR_SUBJECT_SYSTEM: SYSTEM, FHIR_PUSH_RETRY_MIN_MS: '20', FHIR_PUSH_RETRY_MAX_MS: '200' },
  });

// The ports are known once beforeAll has run; the admin token once the hub has written it.
const api: TestHub['api'] = (path, init) => apiCaller(ports.api, () => readFileSync(join(dataDir, 'admin-token'), 'utf8').trim())(path, init);

beforeAll(async () => {
  receiver = await startReceiver();
  ports = await hubPorts();
  service = await start();
  arena = await buildArena({ api, mqttPort: ports.mqtt });
  scale = arena.scale;
}, 120_000);
afterAll(async () => {
  await end(scale);
  await end(arena?.sensor);
  await service?.stop();
  await receiver?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(logDir, { recursive: true, force: true });
});

const observations = (bundles: any[]): any[] =>
  bundles.flatMap((b) => b.entry.map((e: { resource: any }) => e.resource)).filter((r) => r.resourceType === 'Observation');

describe('FHIR push through a durable outbox', () => {
  it('survives an outage and a restart in the middle of it: nothing lost, in order, nothing twice', async () => {
    const t0 = arena.start + 10 * MIN;
    const grams = [70_100, 70_200, 70_300, 70_400, 70_500];
    for (const g of grams.slice(0, 3)) await publish(scale!, 'devices/AQ-1/measurements', weighing(t0 + (g - 70_000) * 1000, g));
    await publish(arena.sensor, 'devices/RS-1/events', fall(Date.now()));
    // The hub is trying (and being refused) before it is stopped.
    await until('the hub retries against the failing server', () => receiver.refusedRequests >= 3);

    await end(scale);
    expect(await service.stop()).toBe(0);
    service = await start();
    scale = await connect(ports.mqtt, 'AQ-1', arena.secrets.scale);
    for (const g of grams.slice(3)) await publish(scale, 'devices/AQ-1/measurements', weighing(t0 + (g - 70_000) * 1000, g));
    await until('still refused after the restart', () => receiver.refusedRequests >= 6);
    expect(receiver.accepted).toEqual([]);

    receiver.failing = false;
    await until(
      'every reading arrived',
      () => observations(receiver.accepted).length >= grams.length && receiver.accepted.some((b) => b.entry[0].resource.resourceType === 'Flag'),
    );
    // Nothing more is on its way: the queue is empty.
    const status = await until('the queue is empty', async () => {
      const push = (await api('/v1/ingest/stats')).body.fhirPush;
      return push.waiting === 0 && push;
    });
    // Everything after the restart: each bundle the hub sent was accepted once.
    expect(status.sent).toBe(receiver.accepted.length);
    const obs = observations(receiver.accepted);
    expect(obs.map((o) => o.valueQuantity.value)).toEqual(grams.map((g) => g / 1000));
    expect(new Set(receiver.accepted.map((b) => b.identifier.value)).size).toBe(receiver.accepted.length);
    expect(new Set(obs.map((o) => o.identifier[0].value)).size).toBe(obs.length);
    for (const b of receiver.accepted) {
      validated(b);
      expect(b).toMatchObject({ resourceType: 'Bundle', type: 'transaction' });
      for (const e of b.entry) expect(e.request).toMatchObject({ method: 'PUT', url: expect.stringMatching(/^(Observation|Flag)\?identifier=/) });
    }
    const flag = receiver.accepted.find((b) => b.entry[0].resource.resourceType === 'Flag').entry[0].resource;
    expect(flag).toMatchObject({ status: 'active', subject: { identifier: { system: SYSTEM } } });
    expect(flag.code.coding[0].code).toBe('4.1');
    expect(obs[0].subject.identifier).toEqual(flag.subject.identifier);
    expect(JSON.stringify(receiver.accepted)).not.toContain('P-1');
  });

  it("follows the alarm's lifecycle: resolving it pushes the Flag again, inactive", async () => {
    const alarmId = receiver.accepted.find((b) => b.entry[0].resource.resourceType === 'Flag').entry[0].resource.identifier[0].value;
    expect((await api(`/v1/alarms/${alarmId}/resolve`, { body: {} })).status).toBe(200);
    const resolved = await until('the resolved Flag arrived', () =>
      receiver.accepted.map((b) => b.entry[0].resource).find((r) => r.resourceType === 'Flag' && r.status === 'inactive'),
    );
    expect(resolved.identifier[0].value).toBe(alarmId);
    const obs = observations(receiver.accepted);
    expect(new Set(obs.map((o) => o.identifier[0].value)).size).toBe(obs.length);
  });

  it('a reading queued during an outage is withheld, not sent, when its participant withdraws before the server is back', async () => {
    receiver.failing = true;
    const before = receiver.refusedRequests;
    await publish(scale!, 'devices/AQ-1/measurements', weighing(Date.now(), 70_900));
    await until('the reading is being retried', () => receiver.refusedRequests >= before + 2);
    const consents = (await api('/v1/participants/P-1/consents')).body.items as { id: string; scope: string }[];
    expect((await api(`/v1/consents/${consents.find((c) => c.scope === 'care.live')!.id}/withdraw`, { body: {} })).status).toBe(200);
    // Still during the outage: the next attempt after the withdrawal asks the consent rule again and drops the entry.
    await until('the hub says it withheld the entry', () => readFileSync(logFile, 'utf8').includes('an entry was withheld'));
    receiver.failing = false;
    expect((await api('/v1/ingest/stats')).body.fhirPush).toMatchObject({ waiting: 0, withheld: 1, refused: 0 });
    expect(observations(receiver.accepted).map((o) => o.valueQuantity.value)).not.toContain(70.9);
  });
});
