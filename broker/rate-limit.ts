import { Lru } from './lru.js';

/** A sustained rate and the burst allowed above it, in one unit (messages or bytes). */
export interface Rate {
  readonly perSecond: number;
  readonly burst: number;
}

/**
 * A token bucket per key in GCRA form: one "theoretical arrival time" per key instead of
 * a token count and a refill timer. A take over the rate is not refused: it is told how
 * long to wait for its turn. Costs are counted in the rate's unit (1 per message, or
 * bytes); the rate is given per call, as a profile may have its own.
 */
class Gcra {
  readonly #tat: Lru<string, number>;

  constructor(
    maxEntries: number,
    private readonly now: () => number,
  ) {
    this.#tat = new Lru(maxEntries);
  }

  take(key: string, cost: number, rate: Rate): number {
    if (!(rate.perSecond > 0) || !(rate.burst >= 1)) throw new RangeError('need perSecond > 0 and burst >= 1');
    const now = this.now();
    const interval = 1000 / rate.perSecond;
    const tat = Math.max(this.#tat.get(key) ?? now, now);
    this.#tat.set(key, tat + cost * interval);
    // Waits once the bucket's burst is spent: a cost larger than the burst waits for its excess.
    return Math.max(0, tat + cost * interval - rate.burst * interval - now);
  }
}

/**
 * Quotas per device and per vendor (issue 25 item 1): messages and bytes per second,
 * each with a burst. Over quota a device is slowed first: the broker holds the publish
 * hook for the wait, so its PUBACK comes later, and aedes reads the next chunk of a
 * connection only when every packet of the current one is handled, and the in-flight
 * bound holds its reads, so a flooding device is read more slowly while everyone else is
 * not. If it stays over for disconnectAfterMs it is disconnected. A device's own buckets are its own: a
 * neighbour over quota takes nothing from them, only from their vendor's.
 */
export interface QuotaLimits {
  readonly messages: Rate;
  readonly bytes: Rate;
}

export interface QuotaOptions {
  /** Every device's, unless its profile says otherwise (device-profiles/schema.ts `quota`). */
  readonly device: QuotaLimits;
  /** All devices of one vendor together. */
  readonly vendor: QuotaLimits;
  /** Over quota without a break for this long: disconnected. 0 = never. */
  readonly disconnectAfterMs: number;
  /** Devices and vendors tracked at once; the least recently seen is forgotten first. */
  readonly maxEntries: number;
}

/** Devices and vendors listed in stats(), the most recently over quota. */
const STATS_ENTRIES = 100;

export type QuotaScope = 'device messages' | 'device bytes' | 'vendor messages' | 'vendor bytes';

export interface QuotaVerdict {
  /** How long this message waits before it is handled (0 = now). */
  readonly waitMs: number;
  /** Which quota it is over, if any (the one making it wait longest). */
  readonly over: QuotaScope | undefined;
  /** The device has been over quota for disconnectAfterMs: close it. */
  readonly disconnect: boolean;
  /** The first message over quota after a time within it (log once per episode). */
  readonly started: boolean;
}

interface Counts {
  paced: number;
  disconnects: number;
}

export interface QuotaStats {
  /** Messages that waited because of a quota. */
  readonly pacedMessages: number;
  /** Connections closed for staying over quota. */
  readonly disconnects: number;
  /** Per device and per vendor with any (the most recently active, bounded). */
  readonly devices: ({ readonly deviceId: string } & Counts)[];
  readonly vendors: ({ readonly vendorId: string } & Counts)[];
}

export class Quotas {
  readonly #buckets: Gcra;
  readonly #overSince: Lru<string, number>;
  readonly #byDevice: Lru<string, Counts>;
  readonly #byVendor: Lru<string, Counts>;
  #paced = 0;
  #disconnects = 0;

  constructor(
    private readonly o: QuotaOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.#buckets = new Gcra(o.maxEntries * 4, now);
    this.#overSince = new Lru(o.maxEntries);
    this.#byDevice = new Lru(o.maxEntries);
    this.#byVendor = new Lru(Math.min(o.maxEntries, 10_000));
  }

  /** One message of `bytes` from a device (of a vendor, when known); `device` overrides the default device quota. */
  take(deviceId: string, vendorId: string | undefined, bytes: number, device: Partial<QuotaLimits> = {}): QuotaVerdict {
    const mine = { ...this.o.device, ...device };
    const waits: [QuotaScope, number][] = [
      ['device messages', this.#buckets.take(`dm:${deviceId}`, 1, mine.messages)],
      ['device bytes', this.#buckets.take(`db:${deviceId}`, bytes, mine.bytes)],
    ];
    if (vendorId !== undefined) {
      waits.push(['vendor messages', this.#buckets.take(`vm:${vendorId}`, 1, this.o.vendor.messages)]);
      waits.push(['vendor bytes', this.#buckets.take(`vb:${vendorId}`, bytes, this.o.vendor.bytes)]);
    }
    const [over, waitMs] = waits.reduce((a, b) => (b[1] > a[1] ? b : a));
    if (waitMs <= 0) {
      this.#overSince.delete(deviceId);
      return { waitMs: 0, over: undefined, disconnect: false, started: false };
    }
    this.#paced++;
    this.#count(deviceId, vendorId, 'paced');
    const now = this.now();
    const since = this.#overSince.get(deviceId);
    if (since === undefined) this.#overSince.set(deviceId, now);
    const disconnect = this.o.disconnectAfterMs > 0 && since !== undefined && now - since >= this.o.disconnectAfterMs;
    if (disconnect) {
      this.#overSince.delete(deviceId);
      this.#disconnects++;
      this.#count(deviceId, vendorId, 'disconnects');
    }
    return { waitMs, over, disconnect, started: since === undefined };
  }

  #count(deviceId: string, vendorId: string | undefined, what: keyof Counts): void {
    const d = this.#byDevice.get(deviceId) ?? { paced: 0, disconnects: 0 };
    d[what]++;
    this.#byDevice.set(deviceId, d);
    if (vendorId === undefined) return;
    const v = this.#byVendor.get(vendorId) ?? { paced: 0, disconnects: 0 };
    v[what]++;
    this.#byVendor.set(vendorId, v);
  }

  stats(): QuotaStats {
    return {
      pacedMessages: this.#paced,
      disconnects: this.#disconnects,
      devices: [...this.#byDevice.entries()].slice(-STATS_ENTRIES).map(([deviceId, c]) => ({ deviceId, ...c })),
      vendors: [...this.#byVendor.entries()].slice(-STATS_ENTRIES).map(([vendorId, c]) => ({ vendorId, ...c })),
    };
  }
}
