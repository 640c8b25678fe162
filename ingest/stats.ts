import type { RejectionCode, WriteResult } from '../kernel/telemetry.js';

/**
 * Ingest counters, exposed on the API and printed by the soak run.
 *
 * acknowledged counts messages whose commit resolved (their PUBACK may go out);
 * storedMessages only what the store itself reported stored. Behind a durable queue (the
 * all-in-one hub's journal) the two differ: a message is acknowledged once journaled and
 * stored when the journal has loaded it into DuckDB (delivered()), so a store that
 * refuses writes shows as acknowledged messages that are not stored.
 */
export class IngestStats {
  received = 0;
  accepted = 0;
  rejected = 0;
  acknowledged = 0;
  storedMessages = 0;
  duplicates = 0;
  batches = 0;
  failedMessages = 0;
  largestBatch = 0;
  readonly rejectedByCode: Partial<Record<RejectionCode, number>> = {};

  /** storedOnDelivery: the store acknowledges on a queue and reports what it stored through delivered(). */
  constructor(private readonly o: { readonly storedOnDelivery?: boolean } = {}) {}

  /** A message with any point stored is accepted; rejectedByCode counts every rejection, of whole messages, records or fields. */
  decided(d: { points: readonly unknown[]; rejections: readonly { code: RejectionCode }[] }): void {
    this.received++;
    if (d.points.length > 0 || d.rejections.length === 0) this.accepted++;
    else this.rejected++;
    for (const r of d.rejections) this.rejectedByCode[r.code] = (this.rejectedByCode[r.code] ?? 0) + 1;
  }

  committed(size: number, result: WriteResult): void {
    this.batches++;
    this.largestBatch = Math.max(this.largestBatch, size);
    this.acknowledged += size;
    if (!this.o.storedOnDelivery) this.delivered(result);
  }

  /** What the store made of a delivery from the queue in front of it: duplicates are known only there. */
  delivered(result: WriteResult): void {
    this.storedMessages += result.storedMessages;
    this.duplicates += result.duplicateMessages;
  }

  failedBatch(size: number): void {
    this.failedMessages += size;
  }

  snapshot() {
    const { received, accepted, rejected, acknowledged, storedMessages, duplicates, batches, failedMessages, largestBatch } = this;
    return {
      received,
      accepted,
      rejected,
      acknowledged,
      storedMessages,
      duplicates,
      batches,
      failedMessages,
      largestBatch,
      rejectedByCode: { ...this.rejectedByCode },
    };
  }
}
