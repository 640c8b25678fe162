import mqtt, { type MqttClient } from 'mqtt';

/**
 * Simulated devices for the soak run and the fault tests: each one a real MQTT client
 * (mqtt.js) with a persistent session (CleanSession 0, fixed client id), publishing at
 * QoS 1. mqtt.js keeps every unacknowledged message in its outgoing store and sends it
 * again after a reconnect, like a device's own outgoing queue. A message counts as
 * acknowledged when its publish callback reports the PUBACK.
 *
 * Each message is unique and names itself: an AquaScale weight whose value in grams is
 * its sequence number and whose time is `base + seq * 10 ms`, so the store can be read
 * back message by message. A "bad" message is not JSON (it becomes a rejection whose raw
 * payload carries the sequence number).
 */
export interface FleetDevice {
  readonly deviceId: string;
  readonly secret: string;
}

export interface FleetOptions {
  readonly url: string;
  /** Several brokers: each device connects to one and, when it goes, to the next (mqtt.js `servers`). */
  readonly servers?: readonly { readonly host: string; readonly port: number }[];
  readonly devices: readonly FleetDevice[];
  readonly messagesPerDevice: number;
  /** Between two publishes of one device. */
  readonly intervalMs: number;
  /** Device time of message 0; later ones are 10 ms apart. */
  readonly baseTime: number;
  /** Every n-th message is not JSON; 0 = none. */
  readonly badEvery?: number;
  /** Every n-th message is published a second time (a device that did not see its PUBACK and resends); 0 = none. */
  readonly repeatEvery?: number;
}

export const TOPIC = (deviceId: string): string => `devices/${deviceId}/measurements`;

/** Whether message `seq` is one of the invalid ones sent on purpose. */
export const isBadMessage = (seq: number, badEvery: number | undefined): boolean => !!badEvery && seq % badEvery === badEvery - 1;

export function messageOf(deviceId: string, seq: number, o: Pick<FleetOptions, 'baseTime' | 'badEvery'>): string {
  if (isBadMessage(seq, o.badEvery)) return `{"serial":"${deviceId}","seq":${seq},`;
  return JSON.stringify({ serial: deviceId, measured_at: new Date(o.baseTime + seq * 10).toISOString(), kind: 'weight', value: seq, unit: 'g' });
}

/** The sequence number a stored reading or rejection of a fleet message carries. */
export const seqOfReading = (kg: number): number => Math.round(kg * 1000);
export const seqOfRejected = (payload: string): number | undefined => {
  const m = /"seq":(\d+)/.exec(payload);
  return m ? Number(m[1]) : undefined;
};

export interface DeviceTally {
  readonly deviceId: string;
  /** Messages published (each counted once, however often it was sent). */
  sent: number;
  /** Sequence numbers whose PUBACK arrived. */
  readonly acked: Set<number>;
  /** PUBLISH packets sent beyond one per message: mqtt.js resends after a reconnect, and deliberate repeats. */
  resent: number;
  /** PUBLISH packets written to the network. */
  packets: number;
  bad: number;
  reconnects: number;
}

export class Fleet {
  readonly tallies: DeviceTally[];
  readonly #clients: MqttClient[] = [];
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #opts: FleetOptions;
  #closed = false;

  constructor(opts: FleetOptions) {
    this.#opts = opts;
    this.tallies = opts.devices.map((d) => ({ deviceId: d.deviceId, sent: 0, acked: new Set<number>(), resent: 0, packets: 0, bad: 0, reconnects: 0 }));
  }

  /** Connects every device (resolves on the first CONNACK of each) and starts publishing. */
  async start(): Promise<void> {
    await Promise.all(this.#opts.devices.map((d, i) => this.#startDevice(d, this.tallies[i]!)));
  }

  async #startDevice(d: FleetDevice, tally: DeviceTally): Promise<void> {
    const o = this.#opts;
    const client = mqtt.connect(o.url, {
      ...(o.servers ? { servers: [...o.servers.slice(this.tallies.indexOf(tally) % o.servers.length), ...o.servers].slice(0, o.servers.length) } : {}),
      clientId: `fleet-${d.deviceId}`,
      clean: false,
      username: d.deviceId,
      password: d.secret,
      protocolVersion: 4,
      reconnectPeriod: 250,
      connectTimeout: 5000,
      keepalive: 10,
    });
    this.#clients.push(client);
    client.on('error', () => undefined); // refused or dropped: mqtt.js reconnects
    client.on('reconnect', () => tally.reconnects++);
    // mqtt.js replays its outgoing store after a reconnect without setting DUP, so a resend
    // is counted as a PUBLISH packet beyond the first for its message.
    const written = new Map<string, number>();
    client.on('packetsend', (p) => {
      if (p.cmd !== 'publish') return;
      tally.packets++;
      const key = String(p.payload);
      const n = (written.get(key) ?? 0) + 1;
      written.set(key, n);
      if (n > 1) tally.resent++;
    });
    await new Promise<void>((resolve) => client.once('connect', () => resolve()));

    // mqtt.js fails a publish it had only queued (not yet in its outgoing store) when the
    // connection drops during its replay; the device then queues it again itself.
    const publish = (seq: number, payload: string): void => {
      client.publish(TOPIC(d.deviceId), payload, { qos: 1 }, (err) => {
        if (!err) tally.acked.add(seq);
        else if (!this.#closed) setTimeout(() => publish(seq, payload), 250);
      });
    };
    let seq = 0;
    const timer = setInterval(() => {
      if (seq >= o.messagesPerDevice) return clearInterval(timer);
      const payload = messageOf(d.deviceId, seq, o);
      if (!payload.endsWith('}')) tally.bad++;
      publish(seq, payload);
      if (o.repeatEvery && seq % o.repeatEvery === 0) publish(seq, payload);
      tally.sent++;
      seq++;
    }, o.intervalMs);
    this.#timers.push(timer);
  }

  get sent(): number {
    return this.tallies.reduce((n, t) => n + t.sent, 0);
  }

  get acked(): number {
    return this.tallies.reduce((n, t) => n + t.acked.size, 0);
  }

  /**
   * Resolves once every device has published all its messages and seen each
   * acknowledged; fails once nothing more is acknowledged for stallMs. Progress, not a
   * deadline: on a machine shared with other work the hub may take far longer than the
   * load's duration, and that is no failure.
   */
  async drained(stallMs: number): Promise<void> {
    const total = this.#opts.messagesPerDevice;
    let acked = this.acked;
    let progressAt = Date.now();
    while (this.tallies.some((t) => t.sent < total || t.acked.size < total)) {
      if (this.acked > acked) [acked, progressAt] = [this.acked, Date.now()];
      if (Date.now() - progressAt > stallMs) throw new Error(`nothing acknowledged for ${stallMs} ms: sent ${this.sent}, acknowledged ${this.acked}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#timers.forEach(clearInterval);
    await Promise.all(this.#clients.map((c) => new Promise<void>((r) => c.end(true, {}, () => r()))));
  }
}
