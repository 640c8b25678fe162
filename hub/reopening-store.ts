import { HubError, isHubError } from '../kernel/errors.js';
import type { Logger } from '../kernel/log.js';
import type { BucketQuery, DatasetExportRequest, DatasetRowCounts, PointQuery, RejectionQuery, TelemetryStore } from '../kernel/ports.js';
import type { IngestBatch, Point } from '../kernel/telemetry.js';

/**
 * An embedded store that survives its engine giving up. DuckDB invalidates a database
 * after a failed write of its WAL or checkpoint (a full disk: "database has been
 * invalidated because of a previous fatal error") and refuses everything until it is
 * opened again. Here such an error closes the instance and every later call first tries
 * to open it again (at most once per retryMs), answering STORE_UNAVAILABLE until that
 * works: the journal in front keeps the acknowledged batches and delivers them once it
 * does, and /readyz (ping) reports the store down meanwhile. No restart needed.
 *
 * A disk-full or I/O error that did not invalidate the database is also answered as
 * STORE_UNAVAILABLE, so the journal retries the batch instead of setting it aside.
 */
export interface ReopeningOptions {
  readonly open: () => Promise<TelemetryStore>;
  readonly logger: Logger;
  /** Least time between two reopen attempts; default 1 s. */
  readonly retryMs?: number;
}

/** DuckDB's wording for a database it will not use again in this instance. */
const FATAL = /invalidated|FATAL Error/i;
/** The engine could not write: worth a retry, not a verdict on the batch. */
const RESOURCE = /No space left on device|ENOSPC|Disk full|IO Error|EIO|Could not (write|truncate|sync)/i;

export async function openReopeningStore(o: ReopeningOptions): Promise<TelemetryStore> {
  return new ReopeningStore(o, await o.open());
}

class ReopeningStore implements TelemetryStore {
  #current: TelemetryStore | undefined;
  #down: Error | undefined;
  #nextTry = 0;
  #reopening: Promise<void> | undefined;
  #closed = false;

  constructor(
    private readonly o: ReopeningOptions,
    first: TelemetryStore,
  ) {
    this.#current = first;
    const exportTo = first.exportTo;
    if (exportTo) this.exportTo = (request, file) => this.#call((s) => s.exportTo!(request, file));
    if (first.indicatorCounts) this.indicatorCounts = (query) => this.#call((s) => s.indicatorCounts!(query));
    if (first.expireRejections) this.expireRejections = (before) => this.#call((s) => s.expireRejections!(before));
    if (first.archiveTrial) this.archiveTrial = (trialId) => this.#call((s) => s.archiveTrial!(trialId));
    if (first.deleteTrial) this.deleteTrial = (trialId) => this.#call((s) => s.deleteTrial!(trialId));
  }

  readonly exportTo?: (request: DatasetExportRequest, file: string) => Promise<DatasetRowCounts>;

  readonly expireRejections?: (before: number) => Promise<number>;

  readonly archiveTrial?: (trialId: string) => Promise<number>;

  readonly deleteTrial?: (trialId: string) => Promise<number>;

  readonly indicatorCounts?: TelemetryStore['indicatorCounts'];

  write = (batch: IngestBatch) => this.#call((s) => s.write(batch));
  aggregate = (query: BucketQuery) => this.#call((s) => s.aggregate(query));
  rejections = (query: RejectionQuery) => this.#call((s) => s.rejections(query));
  rejectionCounts = (query: RejectionQuery) => this.#call((s) => s.rejectionCounts(query));
  eraseParticipant = (participantId: string) => this.#call((s) => s.eraseParticipant(participantId));
  ping = () => this.#call((s) => s.ping());

  points(query: PointQuery): AsyncIterable<Point> {
    const self = this;
    return (async function* () {
      const store = await self.#usable();
      try {
        yield* store.points(query);
      } catch (e) {
        throw await self.#failed(store, e);
      }
    })();
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#reopening;
    const current = this.#current;
    this.#current = undefined;
    await current?.close();
  }

  async #call<T>(fn: (s: TelemetryStore) => Promise<T>): Promise<T> {
    const store = await this.#usable();
    try {
      return await fn(store);
    } catch (e) {
      throw await this.#failed(store, e);
    }
  }

  /** The open store, or STORE_UNAVAILABLE after one more reopen attempt when it is due. */
  async #usable(): Promise<TelemetryStore> {
    if (this.#closed) throw new HubError('STORE_UNAVAILABLE', 'telemetry store is closed');
    if (this.#current) return this.#current;
    if (!this.#reopening && Date.now() >= this.#nextTry) this.#reopening = this.#reopen().finally(() => (this.#reopening = undefined));
    await this.#reopening;
    if (this.#current) return this.#current;
    throw new HubError('STORE_UNAVAILABLE', `telemetry store is down and being reopened: ${this.#down?.message ?? 'unknown error'}`);
  }

  async #reopen(): Promise<void> {
    try {
      const store = await this.o.open();
      if (this.#closed) return void (await store.close());
      this.#current = store;
      this.o.logger.warn({ event: 'store_reopened', after: this.#down?.message }, 'telemetry store reopened');
      this.#down = undefined;
    } catch (e) {
      this.#nextTry = Date.now() + (this.o.retryMs ?? 1000);
      this.o.logger.warn({ event: 'store_reopen_failed', err: e }, 'telemetry store could not be reopened yet');
    }
  }

  /** Maps an engine error: fatal ones take the store down for a reopen; resource ones become STORE_UNAVAILABLE. */
  async #failed(store: TelemetryStore, e: unknown): Promise<unknown> {
    if (isHubError(e)) return e;
    const message = (e as Error)?.message ?? String(e);
    if (FATAL.test(message)) {
      if (this.#current === store) {
        this.#current = undefined;
        this.#down = e as Error;
        this.#nextTry = 0;
        this.o.logger.error({ event: 'store_invalidated', err: e }, 'telemetry store invalidated by a failed write; reopening it');
        await store.close().catch((c: unknown) => this.o.logger.warn({ err: c }, 'closing the invalidated telemetry store failed'));
      }
      return new HubError('STORE_UNAVAILABLE', `telemetry store invalidated, reopening: ${message}`, { cause: e });
    }
    if (RESOURCE.test(message)) return new HubError('STORE_UNAVAILABLE', `telemetry store cannot write: ${message}`, { cause: e });
    return e;
  }
}
