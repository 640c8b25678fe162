import type { RejectionCode } from '../kernel/telemetry.js';

/**
 * Which rejections keep their raw payload (issue 25 item 2). Every rejection is stored
 * and counted; the payload only for the first `perHour` of each device and code in the
 * current clock hour, enough for a vendor to see what the device sent. A device looping
 * on a bad message then costs a row per message, not its payload (60 KB each).
 *
 * Memory: counters for the current hour only, at most maxEntries device/code pairs
 * (beyond that, payloads are not kept until the hour turns).
 */
export interface RejectionSampleOptions {
  readonly perHour: number;
  readonly maxEntries?: number;
}

/** Stored instead of a payload beyond the sample; a vendor reads why it is missing. */
export const payloadNotKept = (perHour: number): string => `[payload not kept: only the first ${perHour} per device, code and hour are]`;

const HOUR_MS = 3_600_000;

export class RejectionSampler {
  readonly #perHour: number;
  readonly #maxEntries: number;
  readonly #counts = new Map<string, number>();
  #hour = -1;
  /** Rejections whose payload was left out, since start. */
  withoutPayload = 0;

  constructor(o: RejectionSampleOptions) {
    this.#perHour = o.perHour;
    this.#maxEntries = o.maxEntries ?? 100_000;
  }

  /** Counts the rejection; whether its payload is kept. */
  keepsPayload(deviceId: string, code: RejectionCode, at: number): boolean {
    const hour = Math.floor(at / HOUR_MS);
    if (hour !== this.#hour) {
      this.#hour = hour;
      this.#counts.clear();
    }
    const key = `${deviceId}\0${code}`;
    const seen = this.#counts.get(key);
    if (seen === undefined && this.#counts.size >= this.#maxEntries) return this.#left();
    const n = (seen ?? 0) + 1;
    this.#counts.set(key, n);
    return n <= this.#perHour || this.#left();
  }

  #left(): false {
    this.withoutPayload++;
    return false;
  }
}
