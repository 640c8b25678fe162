import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { ownCpuSeconds } from '../proc-stats.js';
import { percentiles, sustainedRate } from '../stats.js';
import { topicOf } from './payloads.js';

/**
 * The load generator: one mqtt.js connection per simulated device, each authenticated as
 * that device (the hub's ACL lets a device publish only on its own topics), publishing
 * QoS 1 and counting PUBACKs. The same generator drives the hub and every baseline.
 */

export interface SimDevice {
  readonly id: string;
  /** MQTT password; absent for the baselines, which do not authenticate. */
  readonly secret?: string;
}

interface Conn {
  readonly device: SimDevice;
  readonly client: MqttClient;
  readonly topic: string;
  inFlight: number;
  closed: boolean;
}

export type PayloadOf = (deviceId: string, seq: number, at: number) => string;

/**
 * Counts of one phase, kept up to date by publish callbacks even after the phase's
 * result was taken: a late PUBACK still counts when the stored data is checked.
 */
export interface PhaseCounter {
  sent: number;
  acked: number;
  errors: number;
}

/** What one phase sent through the hub, for the checks against the stored data. */
export interface PhaseRecord {
  readonly name: string;
  /** The phase number its heartbeats carry (load/payloads.ts). */
  readonly phase: number;
  readonly heartbeats: PhaseCounter;
  readonly falls: PhaseCounter;
}

export const newCounter = (): PhaseCounter => ({ sent: 0, acked: 0, errors: 0 });

export interface ClosedLoopResult {
  readonly sent: number;
  readonly acked: number;
  readonly errors: number;
  readonly seconds: number;
  /** Acks over the whole run, ramp and tail included. */
  readonly overallRate: number;
  /** Acks in the middle 80 % of the run. */
  readonly sustainedRate: number;
  readonly generatorCpuShare: number;
  readonly timedOut: boolean;
}

export interface PacedResult {
  readonly offeredRate: number;
  readonly sent: number;
  readonly acked: number;
  readonly errors: number;
  /** Not acked when the drain timeout ran out. */
  readonly outstanding: number;
  readonly seconds: number;
  readonly drainSeconds: number;
  readonly latencyMs: {
    readonly p50: number;
    readonly p90: number;
    readonly p99: number;
    readonly p999: number;
    readonly max: number;
    readonly samples: number;
  };
  /** How late the pacing timer ran (the generator's own event-loop delay). */
  readonly tickLagP99Ms: number;
  readonly generatorCpuShare: number;
}

const BUCKET_MS = 100;

export class Fleet {
  readonly #conns: Conn[];
  #outstanding = 0;
  #drainWaiters: (() => void)[] = [];
  /** Connections the broker closed under us. */
  closedByBroker = 0;

  private constructor(conns: Conn[]) {
    this.#conns = conns;
    for (const c of conns) {
      c.client.on('close', () => {
        if (!c.closed) this.closedByBroker++;
        c.closed = true;
      });
    }
  }

  get size(): number {
    return this.#conns.length;
  }

  get outstanding(): number {
    return this.#outstanding;
  }

  /** Connects every device, `concurrency` CONNECTs at a time. */
  static async connect(opts: {
    port: number;
    devices: readonly SimDevice[];
    concurrency: number;
    connectTimeoutMs?: number;
  }): Promise<{ fleet: Fleet; seconds: number }> {
    const started = performance.now();
    const conns: Conn[] = new Array(opts.devices.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < opts.devices.length) {
        const i = next++;
        const device = opts.devices[i]!;
        conns[i] = {
          device,
          client: await connectOne(opts.port, device, opts.connectTimeoutMs ?? 120_000),
          topic: topicOf(device.id),
          inFlight: 0,
          closed: false,
        };
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.devices.length) }, worker));
    } catch (e) {
      await Promise.all(conns.filter(Boolean).map((c) => endClient(c.client)));
      throw e;
    }
    return { fleet: new Fleet(conns), seconds: (performance.now() - started) / 1000 };
  }

  /**
   * Every device publishes `perDevice` messages, keeping at most `window` unacknowledged
   * on its connection: the offered load is as high as the broker lets it be.
   */
  closedLoop(opts: { perDevice: number; window: number; payload: PayloadOf; timeoutMs: number; counter?: PhaseCounter }): Promise<ClosedLoopResult> {
    const counter = opts.counter ?? newCounter();
    const buckets: number[] = [];
    const cpu0 = ownCpuSeconds();
    const start = performance.now();
    let sent = 0;
    let acked = 0;
    let errors = 0;
    let finishedDevices = 0;
    let lastAck = start;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (timedOut: boolean) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const seconds = (lastAck - start) / 1000;
        resolve({
          sent,
          acked,
          errors,
          seconds,
          overallRate: seconds > 0 ? acked / seconds : 0,
          sustainedRate: sustainedRate(buckets, BUCKET_MS),
          generatorCpuShare: (ownCpuSeconds() - cpu0) / ((performance.now() - start) / 1000),
          timedOut,
        });
      };
      const timer = setTimeout(() => finish(true), opts.timeoutMs);
      for (const conn of this.#conns) {
        let issued = 0;
        let done = 0;
        const deviceDone = (): void => {
          if (++finishedDevices === this.#conns.length) finish(false);
        };
        const pump = (): void => {
          while (conn.inFlight < opts.window && issued < opts.perDevice) {
            issued++;
            conn.inFlight++;
            sent++;
            this.#publish(conn, opts.payload(conn.device.id, issued - 1, Date.now()), counter, (err) => {
              conn.inFlight--;
              done++;
              if (err) errors++;
              else {
                acked++;
                lastAck = performance.now();
                const b = Math.floor((lastAck - start) / BUCKET_MS);
                buckets[b] = (buckets[b] ?? 0) + 1;
              }
              // The broker dropped this connection: what was not issued is never sent.
              if (conn.closed && issued < opts.perDevice) {
                done += opts.perDevice - issued;
                issued = opts.perDevice;
              }
              if (done === opts.perDevice) deviceDone();
              else pump();
            });
          }
        };
        if (conn.closed) deviceDone();
        else pump();
      }
    });
  }

  /**
   * Open loop at a fixed offered rate, round robin over the devices, whatever the broker
   * answers; then waits up to drainTimeoutMs for the outstanding acks. Latency is from
   * the publish() call to its PUBACK. `onTick` runs on each tick (the fall probe).
   */
  async paced(opts: {
    rate: number;
    seconds: number;
    payload: PayloadOf;
    drainTimeoutMs: number;
    warmupSeconds?: number;
    onTick?: (elapsedS: number) => void;
    counter?: PhaseCounter;
  }): Promise<PacedResult> {
    const counter = opts.counter ?? newCounter();
    const capacity = Math.ceil(opts.rate * opts.seconds) + 16;
    const samples = new Float64Array(capacity);
    const lags = new Float64Array(Math.ceil(opts.seconds * 1000) + 16);
    let nSamples = 0;
    let nLags = 0;
    let scheduled = 0;
    let sent = 0;
    let acked = 0;
    let errors = 0;
    let rr = 0;
    const seqs = new Map<string, number>();
    const warmupMs = (opts.warmupSeconds ?? 0) * 1000;
    const cpu0 = ownCpuSeconds();
    const start = performance.now();
    let expectedTick = start;
    for (;;) {
      const now = performance.now();
      if (nLags < lags.length) lags[nLags++] = Math.max(0, now - expectedTick);
      const elapsed = (now - start) / 1000;
      if (elapsed >= opts.seconds) break;
      opts.onTick?.(elapsed);
      const due = Math.floor(elapsed * opts.rate) - scheduled;
      scheduled += Math.max(0, due);
      for (let i = 0; i < due; i++) {
        const conn = this.#conns[rr++ % this.#conns.length]!;
        if (conn.closed) continue; // the broker dropped it: counted in closedByBroker
        sent++;
        const seq = seqs.get(conn.device.id) ?? 0;
        seqs.set(conn.device.id, seq + 1);
        const t0 = performance.now();
        const counted = t0 - start >= warmupMs;
        this.#publish(conn, opts.payload(conn.device.id, seq, Date.now()), counter, (err) => {
          if (err) errors++;
          else {
            acked++;
            if (counted && nSamples < samples.length) samples[nSamples++] = performance.now() - t0;
          }
        });
      }
      expectedTick = performance.now() + 1;
      await sleep(1);
    }
    const offeredSeconds = (performance.now() - start) / 1000;
    const drainStart = performance.now();
    await this.drained(opts.drainTimeoutMs);
    const [p50, p90, p99, p999, max] = percentiles(samples, nSamples, [50, 90, 99, 99.9, 100]);
    return {
      offeredRate: sent / offeredSeconds,
      sent,
      acked,
      errors,
      outstanding: this.#outstanding,
      seconds: offeredSeconds,
      drainSeconds: (performance.now() - drainStart) / 1000,
      latencyMs: { p50: p50!, p90: p90!, p99: p99!, p999: p999!, max: max!, samples: nSamples },
      tickLagP99Ms: percentiles(lags, nLags, [99])[0]!,
      generatorCpuShare: (ownCpuSeconds() - cpu0) / ((performance.now() - start) / 1000),
    };
  }

  /** Publishes once on a device's connection; resolves with the publish → PUBACK time in ms. */
  publishOne(deviceId: string, payload: string, counter: PhaseCounter): Promise<number> {
    const conn = this.#conns.find((c) => c.device.id === deviceId);
    if (!conn) return Promise.reject(new Error(`no connection for ${deviceId}`));
    const t0 = performance.now();
    return new Promise((resolve, reject) => this.#publish(conn, payload, counter, (err) => (err ? reject(err) : resolve(performance.now() - t0))));
  }

  /** Resolves when no publish is outstanding, or after timeoutMs. */
  drained(timeoutMs: number): Promise<boolean> {
    if (this.#outstanding === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.#drainWaiters.push(() => (clearTimeout(timer), resolve(true)));
    });
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#conns.map((c) => {
        c.closed = true;
        return endClient(c.client);
      }),
    );
  }

  #publish(conn: Conn, payload: string, counter: PhaseCounter, done: (err?: Error) => void): void {
    this.#outstanding++;
    counter.sent++;
    conn.client.publish(conn.topic, payload, { qos: 1 }, (err) => {
      this.#outstanding--;
      if (err) counter.errors++;
      else counter.acked++;
      if (this.#outstanding === 0) for (const w of this.#drainWaiters.splice(0)) w();
      done(err ?? undefined);
    });
  }
}

function connectOne(port: number, device: SimDevice, connectTimeout: number): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect({
      host: '127.0.0.1',
      port,
      clientId: device.id,
      ...(device.secret === undefined ? {} : { username: device.id, password: device.secret }),
      clean: true,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout,
      keepalive: 120,
    });
    // mqtt.js leaves Nagle's algorithm on; the hub's listener turns it off on its side. A
    // bench client that waits for TCP ACKs would measure Nagle, not the broker.
    noDelay(client);
    const onError = (e: Error) => {
      client.end(true);
      reject(new Error(`device ${device.id} could not connect: ${e.message}`));
    };
    client.once('error', onError);
    client.once('connect', () => {
      client.off('error', onError);
      client.on('error', () => undefined); // surfaced as a 'close' and as publish errors
      resolve(client);
    });
  });
}

/** Disables Nagle on the client's TCP socket (mqtt.js creates it synchronously in connect()). */
export const noDelay = (client: MqttClient): void => {
  const stream = client.stream as { setNoDelay?: (on: boolean) => unknown } | undefined;
  stream?.setNoDelay?.(true);
};

const endClient = (c: MqttClient): Promise<void> => new Promise((r) => c.end(true, {}, () => r()));
