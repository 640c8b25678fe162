import type { TelemetryStore } from '../kernel/ports.js';
import { isBadMessage, seqOfReading, seqOfRejected, type DeviceTally } from './fleet.js';

/** What the store holds of the fleet's messages, checked against what the devices saw. */
export interface Tally {
  readonly sent: number;
  readonly acknowledged: number;
  /** Distinct fleet messages in the store, as a reading or as a rejection. */
  readonly stored: number;
  readonly rejected: number;
  /** Acknowledged but not in the store: must be 0 (promise 1). */
  readonly lost: number;
  /** Stored more than once: must be 0. */
  readonly storedTwice: number;
  readonly resent: number;
  readonly lostExamples: readonly string[];
}

/**
 * `badEvery` as the fleet sent: the hub keeps the raw payload of only the first few
 * rejections per device, code and hour (the others say so in its place), so such a
 * rejection cannot be matched to its invalid message's sequence number. Such rejections
 * account for as many acknowledged invalid messages, and for nothing else.
 */
export async function tallyStore(store: TelemetryStore, devices: readonly DeviceTally[], o: { badEvery?: number } = {}): Promise<Tally> {
  let stored = 0;
  let rejected = 0;
  let lost = 0;
  let storedTwice = 0;
  const lostExamples: string[] = [];
  for (const d of devices) {
    const seen = new Map<number, number>();
    const count = (seq: number | undefined): void => {
      if (seq !== undefined) seen.set(seq, (seen.get(seq) ?? 0) + 1);
    };
    for await (const p of store.points({ deviceIds: [d.deviceId], kind: 'reading' })) {
      if (p.kind === 'reading') count(seqOfReading(p.value));
    }
    const rejections = await store.rejections({ deviceIds: [d.deviceId], limit: 1_000_000 });
    let withoutPayload = 0;
    for (const r of rejections) {
      const seq = r.payload === null ? undefined : seqOfRejected(r.payload);
      if (seq === undefined) withoutPayload++;
      else count(seq);
    }
    rejected += rejections.length;
    stored += seen.size;
    for (const n of seen.values()) if (n > 1) storedTwice++;
    for (const seq of d.acked) {
      if (!seen.has(seq) && isBadMessage(seq, o.badEvery) && withoutPayload > 0) {
        withoutPayload--;
        stored++;
      } else if (!seen.has(seq)) {
        lost++;
        if (lostExamples.length < 10) lostExamples.push(`${d.deviceId}#${seq}`);
      }
    }
  }
  return {
    sent: devices.reduce((n, d) => n + d.sent, 0),
    acknowledged: devices.reduce((n, d) => n + d.acked.size, 0),
    stored,
    rejected,
    lost,
    storedTwice,
    resent: devices.reduce((n, d) => n + d.resent, 0),
    lostExamples,
  };
}
