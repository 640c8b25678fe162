import { connect, type MqttClient } from 'mqtt';
import type { Logger } from '../kernel/log.js';
import { publishTopics, type ProfileSet } from '../device-profiles/load.js';
import { DAY } from './agenda.js';
import { BEHAVIOURS, type Behaviour } from './behaviours.js';
import { deviceRng } from './random.js';

export interface SimDevice {
  readonly deviceId: string;
  readonly profileId: string;
  readonly secret: string;
}

export interface SimOptions {
  readonly url: string;
  readonly devices: readonly SimDevice[];
  readonly profiles: ProfileSet;
  /** Simulated time per real time: 60 = one simulated hour per real minute. */
  readonly speed: number;
  /** Stop by itself after this many real ms. */
  readonly durationMs?: number;
  readonly seed?: number;
  /** Simulated time of day at the start, ms after local midnight; default the local time of day now. */
  readonly startTimeOfDayMs?: number;
  /**
   * Replays the past from this instant (epoch ms) up to now: device clocks read the
   * simulated instant instead of the wall clock, and the run stops once it reaches the
   * present. The hub takes device times up to INGEST_MAX_PAST_S old (30 days by default).
   */
  readonly replayFrom?: number;
  /** From this instant (epoch ms, on the device clock), falls and missed doses are `factor` times as likely. */
  readonly intervention?: { readonly from: number; readonly factor: number };
  /** This device falls silent for a while (it stays connected: the hub must notice the silence). */
  readonly offlineDeviceId?: string;
  /** Real ms after the start when it falls silent; default 20 s (or a quarter of a shorter run). */
  readonly offlineAfterMs?: number;
  /** Real ms it stays silent; default four of its profile's expected intervals, unscaled, since the hub judges silence by its own clock. */
  readonly offlineForMs?: number;
  readonly logger: Logger;
  readonly qos?: 0 | 1;
}

export interface DeviceStats {
  published: number;
  acknowledged: number;
  /** Failed publishes and connection errors. */
  errors: number;
  /** Payloads dropped while the device was simulated offline. */
  suppressed: number;
}

export interface SimStats extends DeviceStats {
  readonly devices: Record<string, DeviceStats>;
}

export interface Simulation {
  /** Stops publishing, waits briefly for outstanding acknowledgements, disconnects every device. Idempotent. */
  stop(): Promise<SimStats>;
  /** Counts so far. */
  stats(): SimStats;
  /** The simulated clock: ms since local midnight of simulated day 0. */
  simNow(): number;
  /** Settles when the simulation has stopped, by stop() or after durationMs. */
  readonly done: Promise<SimStats>;
}

const TICK_MS = 250;
const ACK_WAIT_MS = 2000;
const REPLAY_ACK_WAIT_MS = 30_000;

interface Running {
  readonly device: SimDevice;
  readonly topic: string;
  readonly behaviour: Behaviour;
  readonly client: MqttClient;
  readonly stats: DeviceStats;
  readonly silent?: { readonly from: number; readonly until: number };
  wasSilent: boolean;
  lastError?: string;
}

export async function runSimulator(opts: SimOptions): Promise<Simulation> {
  const { logger, speed } = opts;
  const qos = opts.qos ?? 1;
  if (!(speed > 0)) throw new Error(`speed must be positive, got ${speed}`);
  const startAt = opts.startTimeOfDayMs;
  if (startAt !== undefined && !(startAt >= 0 && startAt < DAY)) throw new Error(`startTimeOfDayMs must lie within one day, got ${startAt}`);
  if (opts.offlineDeviceId !== undefined && !opts.devices.some((d) => d.deviceId === opts.offlineDeviceId)) {
    throw new Error(`offline device ${opts.offlineDeviceId} is not one of the simulated devices`);
  }

  // Unless told otherwise, the simulated day starts at the local time of day now, so
  // 08:00 doses come at a sensible hour.
  const utcOffsetMin = -new Date().getTimezoneOffset();
  const t0 = Date.now();
  const replayFrom = opts.replayFrom;
  if (replayFrom !== undefined && !(replayFrom < t0)) throw new Error(`replay must start in the past, got ${new Date(replayFrom).toISOString()}`);
  if (replayFrom !== undefined && startAt !== undefined)
    throw new Error('a replay starts at the time of day of its first instant: give replayFrom or startTimeOfDayMs, not both');
  const start = startAt ?? ((replayFrom ?? t0) + utcOffsetMin * 60_000) % DAY;
  const simNow = (): number => start + (Date.now() - t0) * speed;
  const clock = replayFrom === undefined ? () => Date.now() : (sim: number) => Math.floor(replayFrom + sim - start); // devices count whole ms
  const { intervention } = opts;
  if (intervention && !(intervention.factor >= 0)) throw new Error(`the intervention's factor must be 0 or more, got ${intervention.factor}`);
  const risk = intervention ? (sim: number) => (clock(sim) >= intervention.from ? intervention.factor : 1) : undefined;
  const seed = opts.seed ?? t0 & 0x7fffffff;
  let stopping: Promise<SimStats> | undefined;

  const running: Running[] = opts.devices.map((device) => {
    const decoder = opts.profiles.get(device.profileId);
    const factory = BEHAVIOURS[device.profileId];
    if (!decoder) throw new Error(`device ${device.deviceId}: unknown profile ${device.profileId}`);
    if (!factory) throw new Error(`device ${device.deviceId}: no simulated behaviour for profile ${device.profileId}`);
    const expectedS = decoder.profile.expectedIntervalS;
    const behaviour = factory({
      deviceId: device.deviceId,
      rng: deviceRng(seed, device.deviceId),
      clock,
      risk,
      start,
      // At high speeds, no more than one heartbeat per real second per device.
      heartbeatS: Math.max(expectedS, speed),
      utcOffsetMin,
    });
    const stats: DeviceStats = { published: 0, acknowledged: 0, errors: 0, suppressed: 0 };
    let silent: Running['silent'];
    if (device.deviceId === opts.offlineDeviceId) {
      const from = opts.offlineAfterMs ?? Math.min(20_000, (opts.durationMs ?? Infinity) / 4);
      silent = { from, until: from + (opts.offlineForMs ?? 4 * expectedS * 1000) };
    }
    const client = connect(opts.url, {
      clientId: device.deviceId,
      username: device.deviceId,
      password: device.secret,
      clean: false,
      reconnectPeriod: 1000,
    });
    const r: Running = { device, topic: publishTopics(decoder.profile, device.deviceId)[0]!, behaviour, client, stats, silent, wasSilent: false };
    const log = logger.child({ deviceId: device.deviceId });
    client.on('connect', () => {
      r.lastError = undefined;
      log.info({ topic: r.topic }, 'simulated device connected');
    });
    client.on('offline', () => {
      if (!stopping) log.warn('simulated device lost its connection; reconnecting');
    });
    client.on('error', (e) => {
      stats.errors++;
      // A refused connection repeats every second: log it once until it changes or recovers.
      if (e.message !== r.lastError) log.warn({ err: e.message }, 'simulated device connection error');
      r.lastError = e.message;
    });
    return r;
  });

  function publish(r: Running, payload: string): void {
    r.stats.published++;
    r.client.publish(r.topic, payload, { qos }, (err) => {
      if (!err) return void r.stats.acknowledged++;
      r.stats.errors++;
      logger.debug({ deviceId: r.device.deviceId, err: err.message }, 'publish failed');
    });
  }

  function tick(): void {
    // A replay runs up to the present and no further: device clocks never read the future.
    const caughtUp = replayFrom !== undefined && clock(simNow()) >= Date.now();
    const sim = caughtUp ? start + Date.now() - replayFrom : simNow();
    const elapsed = Date.now() - t0;
    for (const r of running) {
      const payloads = r.behaviour.advance(sim);
      const silent = r.silent !== undefined && elapsed >= r.silent.from && elapsed < r.silent.until;
      if (silent !== r.wasSilent) {
        logger.info({ deviceId: r.device.deviceId }, silent ? 'simulated device goes silent' : 'simulated device publishes again');
        r.wasSilent = silent;
      }
      for (const p of payloads) {
        if (silent) r.stats.suppressed++;
        else publish(r, p);
      }
    }
    if (caughtUp) {
      logger.info({ replayedUntil: new Date(clock(sim)).toISOString() }, 'replay reached the present');
      void stop();
    }
  }

  function stats(): SimStats {
    const devices: Record<string, DeviceStats> = {};
    const total: DeviceStats = { published: 0, acknowledged: 0, errors: 0, suppressed: 0 };
    for (const r of running) {
      devices[r.device.deviceId] = { ...r.stats };
      for (const k of Object.keys(total) as (keyof DeviceStats)[]) total[k] += r.stats[k];
    }
    return { ...total, devices };
  }

  /** Lets outstanding QoS 1 publishes be acknowledged, then disconnects; a dead broker gets cut off. */
  async function disconnect(r: Running): Promise<void> {
    const outstanding = (): number => r.stats.published - r.stats.acknowledged - r.stats.errors;
    // A replay is worth nothing with its last messages unacknowledged: it waits longer.
    const deadline = Date.now() + (replayFrom === undefined ? ACK_WAIT_MS : REPLAY_ACK_WAIT_MS);
    while (outstanding() > 0 && r.client.connected && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    await new Promise<void>((res) => r.client.end(outstanding() > 0, {}, () => res()));
  }

  let settle: (s: SimStats) => void = () => {};
  const done = new Promise<SimStats>((res) => (settle = res));
  const timer = setInterval(tick, TICK_MS);
  const limit = opts.durationMs !== undefined ? setTimeout(() => void stop(), opts.durationMs) : undefined;

  function stop(): Promise<SimStats> {
    stopping ??= (async () => {
      clearInterval(timer);
      clearTimeout(limit);
      await Promise.all(running.map(disconnect));
      const s = stats();
      logger.info({ published: s.published, acknowledged: s.acknowledged, errors: s.errors, suppressed: s.suppressed }, 'simulator stopped');
      settle(s);
      return s;
    })();
    return stopping;
  }

  logger.info(
    { devices: running.length, speed, seed, replayFrom, intervention, offlineDeviceId: opts.offlineDeviceId, url: opts.url.replace(/\/\/[^@/]*@/, '//') },
    'simulator started',
  );
  return { stop, stats, simNow, done };
}
