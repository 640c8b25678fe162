import { createServer, type AddressInfo, type Server } from 'node:net';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadProfiles, publishTopics } from '../../device-profiles/load.js';
import { createLogger } from '../../kernel/log.js';
import { runSimulator, type SimDevice } from '../../sim/simulator.js';
import { until } from '../helpers/poll.js';

const profiles = loadProfiles('device-profiles/profiles', { skewMs: 120_000, maxPastMs: 30 * 86400e3, maxFutureMs: 3600e3 });
const noAttribution = { siteId: null, roomId: null, trialId: null, participantId: null };
const devices: SimDevice[] = [
  { deviceId: 'RS3D-00421', profileId: 'roomsense-3d', secret: 's-rs' },
  { deviceId: 'BW-1182', profileId: 'bedwatch-senml', secret: 's-bw' },
  { deviceId: 'DB-0077', profileId: 'dosebox', secret: 's-db' },
  { deviceId: 'MM-204', profileId: 'medimate-senml', secret: 's-mm' },
  { deviceId: 'AQ-3001', profileId: 'aquascale', secret: 's-aq' },
  { deviceId: 'VK-77', profileId: 'vekta-senml', secret: 's-vk' },
];

interface Received {
  clientId: string;
  topic: string;
  qos: number;
  payload: Buffer;
  at: number;
}
const received: Received[] = [];
const connects: { clientId: string; clean: boolean | undefined }[] = [];
let broker: Aedes;
let server: Server;
let url: string;

beforeAll(async () => {
  // The real broker's rules in miniature: username = client id, the right secret, own topics only.
  broker = await Aedes.createBroker({
    authenticate: (client, username, password, done) => {
      const d = devices.find((x) => x.deviceId === username);
      const ok = d !== undefined && client.id === username && password?.toString() === d.secret;
      done(ok ? null : Object.assign(new Error('bad credentials'), { returnCode: 4 as const }), ok);
    },
    authorizePublish: (client, packet, cb) => {
      const d = devices.find((x) => x.deviceId === client?.id);
      const allowed = d !== undefined && publishTopics(profiles.get(d.profileId)!.profile, d.deviceId).includes(packet.topic);
      cb(allowed ? null : new Error('topic not allowed'));
    },
    preConnect: (_client, packet, cb) => {
      connects.push({ clientId: packet.clientId, clean: packet.clean });
      cb(null, true);
    },
  });
  broker.on('publish', (packet, client) => {
    if (client) received.push({ clientId: client.id, topic: packet.topic, qos: packet.qos, payload: Buffer.from(packet.payload), at: Date.now() });
  });
  server = createServer(broker.handle);
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((res) => broker.close(() => res()));
  await new Promise<void>((res) => server.close(() => res()));
});

describe('runSimulator against an MQTT broker', () => {
  it('publishes every device in its dialect with QoS 1 on its own topic, silences the offline device, stops by itself', async () => {
    const logLines: string[] = [];
    const logger = createLogger('info', { write: (s: string) => void logLines.push(s) });
    const sim = await runSimulator({
      url,
      devices,
      profiles,
      speed: 3600, // one simulated hour a second: every device has something to say
      durationMs: 4000,
      seed: 7,
      // 09:00-13:00 simulated: every device, the cup counter included, has something to say (at night it may not)
      startTimeOfDayMs: 9 * 3600e3,
      offlineDeviceId: 'VK-77',
      offlineAfterMs: 0,
      offlineForMs: 60_000,
      logger,
    });
    const stats = await sim.done;
    expect(await sim.stop()).toEqual(stats); // idempotent

    expect(connects.length).toBeGreaterThanOrEqual(devices.length);
    expect(connects.every((c) => c.clean === false)).toBe(true);
    for (const d of devices.filter((x) => x.deviceId !== 'VK-77')) {
      const s = stats.devices[d.deviceId]!;
      expect(s.published, d.deviceId).toBeGreaterThan(0);
      expect(s).toMatchObject({ acknowledged: s.published, errors: 0, suppressed: 0 });
      const mine = received.filter((r) => r.clientId === d.deviceId);
      expect(mine.length).toBe(s.published);
      const topic = publishTopics(profiles.get(d.profileId)!.profile, d.deviceId)[0];
      for (const r of mine) {
        expect(r.topic).toBe(topic);
        expect(r.qos).toBe(1);
        const decoded = profiles
          .get(d.profileId)!
          .decode({ messageId: 1n, deviceId: d.deviceId, payload: r.payload, receivedAt: r.at, attribution: noAttribution });
        if (!decoded.ok) expect.fail(`${d.deviceId}: ${JSON.stringify(decoded.problem)} ${r.payload.toString()}`);
        expect(decoded.points.every((p) => !p.clockSkewed)).toBe(true);
      }
    }
    expect(stats.devices['VK-77']).toMatchObject({ published: 0 });
    expect(stats.devices['VK-77']!.suppressed).toBeGreaterThan(0);
    expect(received.some((r) => r.clientId === 'VK-77')).toBe(false);
    expect(stats.published).toBe(Object.values(stats.devices).reduce((n, s) => n + s.published, 0));
    expect(logLines.join('')).not.toMatch(/s-(rs|bw|db|mm|aq|vk)/); // secrets never logged
  });

  it('counts a refused connection as an error, and stop() still returns promptly', async () => {
    const logger = createLogger('silent');
    const sim = await runSimulator({
      url,
      devices: [{ deviceId: 'DB-0077', profileId: 'dosebox', secret: 'wrong' }],
      profiles,
      speed: 36000,
      seed: 1,
      logger,
    });
    await until('the refused connection is counted', () => sim.stats().errors > 0);
    const t = Date.now();
    const stats = await sim.stop();
    expect(Date.now() - t).toBeLessThan(1000); // nothing to wait for while not connected
    expect(stats.errors).toBeGreaterThan(0);
    expect(stats.acknowledged).toBe(0);
  });

  it('rejects an unknown profile, offline device or start time up front', async () => {
    const logger = createLogger('silent');
    await expect(runSimulator({ url, devices: [{ deviceId: 'X-1', profileId: 'nope', secret: 'x' }], profiles, speed: 60, logger })).rejects.toThrow(
      /unknown profile/,
    );
    await expect(runSimulator({ url, devices, profiles, speed: 60, offlineDeviceId: 'X-9', logger })).rejects.toThrow(/not one of/);
    await expect(runSimulator({ url, devices, profiles, speed: 60, startTimeOfDayMs: 86_400_000, logger })).rejects.toThrow(/within one day/);
    await expect(runSimulator({ url, devices, profiles, speed: 60, replayFrom: Date.now() + 60_000, logger })).rejects.toThrow(/in the past/);
    await expect(
      runSimulator({ url, devices, profiles, speed: 60, replayFrom: Date.now() - 60_000, intervention: { from: 0, factor: -1 }, logger }),
    ).rejects.toThrow(/0 or more/);
  });

  it('replays two past days up to the present with device clocks on the replayed time, then stops by itself', async () => {
    const replayFrom = Date.now() - 2 * 86_400_000;
    const replayed = devices.filter((d) => ['roomsense-3d', 'dosebox', 'aquascale'].includes(d.profileId));
    const first = received.length;
    const sim = await runSimulator({ url, devices: replayed, profiles, speed: 60_000, seed: 5, replayFrom, logger: createLogger('silent') });
    const stats = await sim.done; // no duration: the replay ends at the present
    const stoppedAt = Date.now();
    for (const d of replayed) {
      const s = stats.devices[d.deviceId]!;
      expect(s.published, d.deviceId).toBeGreaterThan(0);
      expect(s).toMatchObject({ acknowledged: s.published, errors: 0 });
      const times = received
        .slice(first)
        .filter((r) => r.clientId === d.deviceId)
        .flatMap((r) => {
          const decoded = profiles
            .get(d.profileId)!
            .decode({ messageId: 1n, deviceId: d.deviceId, payload: r.payload, receivedAt: r.at, attribution: noAttribution });
          if (!decoded.ok) return expect.fail(`${d.deviceId}: ${JSON.stringify(decoded.problem)} ${r.payload.toString()}`);
          return decoded.points.map((p) => p.deviceTime);
        });
      expect(times.length).toBeGreaterThan(0);
      // DoseBox and AquaScale write whole seconds: a stamp may lie up to 1 s before the replay's first instant.
      expect(Math.min(...times)).toBeGreaterThanOrEqual(replayFrom - 1000);
      expect(Math.max(...times)).toBeLessThanOrEqual(stoppedAt);
      expect(times).toEqual([...times].sort((a, b) => a - b));
    }
    // Both days were replayed, not just the last moments: the events span more than a day.
    const rs = received.slice(first).filter((r) => r.clientId === 'RS3D-00421');
    const stamps = rs.map((r) => (JSON.parse(r.payload.toString()) as { time: number }).time);
    expect(Math.max(...stamps) - Math.min(...stamps)).toBeGreaterThan(86_400_000);
  });
});
