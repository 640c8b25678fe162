import type { RejectionCode, WriteResult } from '../kernel/telemetry.js';

/** Ingest counters, exposed on the API and printed by the soak run. */
export class IngestStats {
  received = 0;
  accepted = 0;
  rejected = 0;
  storedMessages = 0;
  duplicates = 0;
  batches = 0;
  failedMessages = 0;
  largestBatch = 0;
  readonly rejectedByCode: Partial<Record<RejectionCode, number>> = {};

  decided(d: { rejection: { code: RejectionCode } | null }): void {
    this.received++;
    if (d.rejection) {
      this.rejected++;
      this.rejectedByCode[d.rejection.code] = (this.rejectedByCode[d.rejection.code] ?? 0) + 1;
    } else {
      this.accepted++;
    }
  }

  committed(size: number, result: WriteResult): void {
    this.batches++;
    this.largestBatch = Math.max(this.largestBatch, size);
    this.storedMessages += result.storedMessages;
    this.duplicates += result.duplicateMessages;
  }

  /**
   * Messages counted as stored when they were journaled, found to be duplicates when the
   * journal loaded them into the store.
   */
  deduplicated(duplicates: number): void {
    this.storedMessages -= duplicates;
    this.duplicates += duplicates;
  }

  failedBatch(size: number): void {
    this.failedMessages += size;
  }

  snapshot() {
    const { received, accepted, rejected, storedMessages, duplicates, batches, failedMessages, largestBatch } = this;
    return { received, accepted, rejected, storedMessages, duplicates, batches, failedMessages, largestBatch, rejectedByCode: { ...this.rejectedByCode } };
  }
}
