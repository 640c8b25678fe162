import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { HubError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/log.js';
import type {
  Bucket,
  DeliveryStatus,
  BucketQuery,
  DatasetExportRequest,
  DatasetRowCounts,
  PointQuery,
  RejectionCount,
  RejectionQuery,
  TelemetryStore,
} from '../../kernel/ports.js';
import { assertBatchConsistent, type IngestBatch, type Point, type Rejection, type WriteResult } from '../../kernel/telemetry.js';
import { batchWithout, decode, encode, entryWithout, holdsAny, linesWithout, merge, participantIdsIn } from './lines.js';
import { isStoreOutage } from './outage.js';

/**
 * A durable on-disk queue in front of a TelemetryStore. Two uses:
 * - in front of InfluxDB (split ingest), so telemetry is not lost while it is slow or down;
 * - in front of DuckDB (the all-in-one hub) as the ingest journal: the point of
 *   durability becomes one O_DSYNC append (under a millisecond on a quiet disk) instead
 *   of a DuckDB commit (several), and DuckDB is loaded behind it in large transactions.
 *
 * write() appends the batch as one JSON line to the current segment file (O_DSYNC), and
 * resolves: from then on the batch survives a crash of this process. A background
 * drainer hands batches to the inner store in order and moves past one only after the
 * store took it, retrying with backoff while the store is unavailable. Segments are
 * deleted once fully delivered; the delivered position is kept in cursor.json.
 *
 * A store that refuses for want of resources (out of memory, disk full, I/O errors, an
 * engine that must be reopened; isStoreOutage()) is an outage: the batches stay queued
 * and delivery is retried with backoff, while status() and ping() report the store as
 * failing. Only a batch that is itself invalid is set aside in dead-letter.ndjson: one
 * that cannot be read back, or that the store refuses alone while it accepts the other
 * batches of the same delivery. requeueSetAside() queues set-aside batches again once
 * their cause is fixed (`npm run requeue`, hub/requeue.ts).
 *
 * Delivery to the inner store is at-least-once (a crash after a delivery but before the
 * cursor is saved delivers that batch again); the inner store's exactly-once by message
 * id turns that into exactly-once storage. Hence write() reports every new message id as
 * stored: duplicates are only known when the batch reaches the store.
 *
 * Backpressure: a write that would take the queue over maxBytes is refused
 * (STORE_UNAVAILABLE: the broker withholds the PUBACK and the device keeps the message)
 * or, with whenFull 'wait', held until delivery makes room. onNearlyFull fires when the
 * queue passes warnAtFraction of maxBytes. Queued batches reach the store merged, up to
 * deliveryBytes of queue per write.
 *
 * Reads go straight to the inner store, so they lag behind writes while a backlog
 * drains, unless readYourWrites: then each read first waits for what was queued before
 * it. eraseParticipant always waits so, so queued points of that participant are erased too.
 *
 * Erasure leaves no line of the participant in the queue's files: delivered segments are
 * deleted, and the lines still queued are copied into a new segment without them (see
 * forgetParticipants, for an erasure made by another process).
 */
export interface OutboxOptions {
  readonly dir: string;
  readonly maxBytes: number;
  /** Default 0.8. */
  readonly warnAtFraction?: number;
  /** The technical alarm hook: the queue passed warnAtFraction of maxBytes, or refused a write. */
  readonly onNearlyFull?: (usedBytes: number) => void;
  readonly logger: Logger;
  /** Segment file size before starting the next one; default min(16 MiB, maxBytes / 4). */
  readonly segmentBytes?: number;
  /** Retry delays while the inner store is unavailable; default 200 ms doubling to 30 s. */
  readonly retry?: { readonly minMs?: number; readonly maxMs?: number };
  /** How long eraseParticipant (and, with readYourWrites, a read) waits for the queue ahead of it; default 30 s. */
  readonly eraseWaitMs?: number;
  /**
   * Reads wait until everything written before them is delivered, so a query sees every
   * acknowledged message. For a local store (DuckDB) that is a few milliseconds; for a
   * remote one that may be down, leave it off and let reads lag.
   */
  readonly readYourWrites?: boolean;
  /** close() first delivers the whole queue (a local store); otherwise it stays on disk for the next open. */
  readonly drainOnClose?: boolean;
  /**
   * A full queue: 'refuse' fails the write (STORE_UNAVAILABLE: the device keeps the
   * message and sends it again), 'wait' holds it until delivery makes room (backpressure
   * on the publishing connection). Default 'refuse'.
   */
  readonly whenFull?: 'refuse' | 'wait';
  /** What the inner store made of each delivery: duplicates are known only there. */
  readonly onDelivered?: (result: WriteResult) => void;
  /** Queued batches merged into one inner write, at most this many bytes of queue; default 4 MiB. */
  readonly deliveryBytes?: number;
  /**
   * Let a delivery gather for up to this long (default 0: deliver at once). Fewer, larger
   * store transactions cost less CPU and disk, and leave the disk to the appends that
   * devices wait for. A read or erasure waiting for the queue, close(), or half of
   * deliveryBytes queued end the wait at once.
   */
  readonly deliveryDelayMs?: number;
}

/** How delivery to the inner store is going: for /readyz and the ingest stats. */

export type OutboxStore = TelemetryStore & {
  pendingBytes(): number;
  drained(): Promise<void>;
  status(): DeliveryStatus;
  /** Queues every set-aside batch again, durably, then empties dead-letter.ndjson; returns how many. */
  requeueSetAside(): Promise<{ batches: number; messages: number }>;
  /**
   * An erasure made by another process (the split layout's API, while ingest queues for
   * InfluxDB): the queue's files lose these participants' points, their rejections are
   * kept as erasure leaves them (counted, nothing of theirs), whether queued, delivered
   * but not yet deleted, or set aside; batches written later are queued without them.
   * Nothing is waited for: the store may be down. Returns how many of them the files held.
   */
  forgetParticipants(ids: Iterable<string>): Promise<number>;
};

/** One queued line on its way to the store: its batch, or why it cannot be read. */
interface Entry {
  readonly line: string;
  readonly bytes: number;
  readonly batch?: IngestBatch;
  readonly unreadable?: unknown;
}

const DEAD_LETTER = 'dead-letter.ndjson';

export async function withOutbox(inner: TelemetryStore, opts: OutboxOptions): Promise<OutboxStore> {
  if (!(opts.maxBytes > 0)) throw new HubError('CONFIG_INVALID', 'outbox maxBytes must be positive');
  const outbox = new Outbox(inner, opts);
  await outbox.open();
  return outbox;
}

interface Position {
  seg: number;
  offset: number;
}

/** Append-only, and each write durable when it returns (as a write followed by fdatasync). */
const APPEND_DURABLY = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_APPEND | fsConstants.O_DSYNC;
const SEGMENT = /^segment-(\d{12})\.ndjson$/;
const segmentName = (n: number): string => `segment-${String(n).padStart(12, '0')}.ndjson`;

class Outbox implements OutboxStore {
  readonly #warnAt: number;
  readonly #segmentBytes: number;
  readonly #deliveryBytes: number;
  /** Bytes per segment file still on disk, oldest first; the last one takes appends. */
  readonly #sizes = new Map<number, number>();
  #read: Position = { seg: 1, offset: 0 };
  #writeSeg = 1;
  #writeFh: FileHandle | undefined;
  #readFh: { seg: number; fh: FileHandle } | undefined;
  #appends: Promise<unknown> = Promise.resolve();
  #waiters: { at: Position; resolve: () => void }[] = [];
  /** Set while the drainer waits for an append; appends and close() call it. */
  #wake: (() => void) | undefined;
  #wakeSleep: (() => void) | undefined;
  #drainer: Promise<void> | undefined;
  #closing: Promise<void> | undefined;
  /** Appends waiting for room (whenFull: 'wait'). */
  #roomWaiters: (() => void)[] = [];
  /** Ends a deliveryDelayMs wait early. */
  #hurry: (() => void) | undefined;
  /** Set once close() has delivered what it should: the drainer stops. */
  #stopping = false;
  #alarmed = false;
  /** A failed append whose bytes could not be cut away yet: the segment must go back to `size`. */
  #broken: { error: Error; size: number } | undefined;
  #failing: { since: Date; error: string } | undefined;
  #setAside = { batches: 0, messages: 0 };
  /** Serialises appends to dead-letter.ndjson and its requeueing. */
  #deadLetters: Promise<unknown> = Promise.resolve();
  /** Held by a delivery from reading its lines until it moves past them, and by a rewrite of the segments. */
  #queueFiles: Promise<unknown> = Promise.resolve();
  /** Participants erased elsewhere (forgetParticipants): appends leave them out. */
  readonly #forgotten = new Set<string>();

  constructor(
    private readonly inner: TelemetryStore,
    private readonly o: OutboxOptions,
  ) {
    this.#warnAt = (o.warnAtFraction ?? 0.8) * o.maxBytes;
    this.#deliveryBytes = o.deliveryBytes ?? 4 * 1024 * 1024;
    this.#segmentBytes = o.segmentBytes ?? Math.max(1, Math.min(16 * 1024 * 1024, Math.floor(o.maxBytes / 4)));
    const expire = inner.expireRejections?.bind(inner);
    if (expire) this.expireRejections = (before) => expire(before);
    const archiveTrial = inner.archiveTrial?.bind(inner);
    if (archiveTrial) {
      // Queued points of the trial are archived with the rest: delivered first.
      this.archiveTrial = async (trialId) => {
        await this.#caughtUp('retention');
        return archiveTrial(trialId);
      };
    }
    const deleteTrial = inner.deleteTrial?.bind(inner);
    if (deleteTrial) {
      // As an erasure: delivered first, then no journal segment or dead letter keeps the trial.
      this.deleteTrial = async (trialId) => {
        this.#assertOpen();
        await this.#caughtUp('retention');
        await this.#forget(new Set([trialId]), 'trialId', 'retention');
        return deleteTrial(trialId);
      };
    }
    const indicatorCounts = inner.indicatorCounts?.bind(inner);
    if (indicatorCounts) {
      this.indicatorCounts = async (query) => {
        if (this.o.readYourWrites) await this.#caughtUp('read');
        return indicatorCounts(query);
      };
    }
    const exportTo = inner.exportTo?.bind(inner);
    if (exportTo) {
      this.exportTo = async (request, file) => {
        if (this.o.readYourWrites) await this.#caughtUp('read');
        return exportTo(request, file);
      };
    }
  }

  /** Only when the inner store can; queued rejections are young, so nothing waits for the queue. */
  readonly expireRejections?: (before: number) => Promise<number>;

  /** Only when the inner store can (retention of a closed trial). */
  readonly archiveTrial?: (trialId: string) => Promise<number>;
  readonly deleteTrial?: (trialId: string) => Promise<number>;

  /** Only when the inner store counts indicators itself; with readYourWrites it waits like every read. */
  readonly indicatorCounts?: TelemetryStore['indicatorCounts'];

  /** Only when the inner store writes datasets itself; with readYourWrites it waits like every read. */
  readonly exportTo?: (request: DatasetExportRequest, file: string) => Promise<DatasetRowCounts>;

  async open(): Promise<void> {
    await mkdir(this.o.dir, { recursive: true });
    const segs = (await readdir(this.o.dir)).flatMap((f) => (SEGMENT.test(f) ? [Number(SEGMENT.exec(f)![1])] : [])).sort((a, b) => a - b);
    const cursor = await this.#loadCursor();
    for (const seg of segs) {
      // Older than the cursor: delivered, left over from a crash before its deletion.
      if (cursor && seg < cursor.seg) await rm(this.#path(seg), { force: true });
      else this.#sizes.set(seg, (await stat(this.#path(seg))).size);
    }
    const first = [...this.#sizes.keys()][0];
    const last = [...this.#sizes.keys()].pop();
    if (first === undefined || last === undefined) {
      this.#read = { seg: cursor?.seg ?? 1, offset: 0 };
      this.#writeSeg = this.#read.seg;
      this.#sizes.set(this.#writeSeg, 0);
    } else {
      this.#read = cursor && cursor.seg === first ? { seg: first, offset: Math.min(cursor.offset, this.#sizes.get(first)!) } : { seg: first, offset: 0 };
      this.#writeSeg = last;
      await this.#repairTail(last);
    }
    this.#writeFh = await open(this.#path(this.#writeSeg), APPEND_DURABLY);
    await this.#syncDir();
    for (const entry of await this.#readDeadLetters()) this.#countSetAside(entry.batch);
    if (this.#setAside.batches > 0)
      this.o.logger.warn(
        { ...this.#setAside, file: join(this.o.dir, DEAD_LETTER) },
        'outbox: batches set aside earlier wait in the dead-letter file; requeue them once their cause is fixed',
      );
    if (this.pendingBytes() > 0)
      this.o.logger.info({ pendingBytes: this.pendingBytes(), dir: this.o.dir }, 'outbox: delivering batches queued before the restart');
    this.#checkAlarm();
    this.#drainer = this.#drain();
  }

  // ---- TelemetryStore ----

  write(batch: IngestBatch): Promise<WriteResult> {
    try {
      this.#assertOpen(); // checked now: a write accepted before close() still completes
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.#appends.then(() => this.#append(batch));
    this.#appends = run.catch(() => undefined);
    return run;
  }

  points(query: PointQuery): AsyncIterable<Point> {
    if (!this.o.readYourWrites) return this.inner.points(query);
    const inner = this.inner;
    const caughtUp = this.#caughtUp('read');
    return (async function* () {
      await caughtUp;
      yield* inner.points(query);
    })();
  }

  async aggregate(query: BucketQuery): Promise<Bucket[]> {
    if (this.o.readYourWrites) await this.#caughtUp('read');
    return this.inner.aggregate(query);
  }

  async rejections(query: RejectionQuery): Promise<Rejection[]> {
    if (this.o.readYourWrites) await this.#caughtUp('read');
    return this.inner.rejections(query);
  }

  async rejectionCounts(query: RejectionQuery): Promise<RejectionCount[]> {
    if (this.o.readYourWrites) await this.#caughtUp('read');
    return this.inner.rejectionCounts(query);
  }

  async eraseParticipant(participantId: string): Promise<number> {
    this.#assertOpen();
    // Queued points of that participant are erased too: delivered first, then deleted there.
    await this.#caughtUp('erasure');
    await this.#forget(new Set([participantId]), 'participantId', 'erasure');
    return this.inner.eraseParticipant(participantId);
  }

  async forgetParticipants(ids: Iterable<string>): Promise<number> {
    this.#assertOpen();
    const asked = new Set(ids);
    for (const id of asked) this.#forgotten.add(id); // from now on appends leave them out
    // Under the queue files' lock: no rewrite moves lines from one segment to another meanwhile.
    const held = await this.#exclusive(() => this.#participantsInFiles());
    const found = new Set([...asked].filter((id) => held.has(id)));
    if (found.size > 0) await this.#forget(found, 'participantId');
    return found.size;
  }

  /**
   * Fails while the store refuses deliveries: it may answer queries and still store
   * nothing. The message is for /readyz, which anyone may read: the store's own error
   * (it may name files) is in status() and the log.
   */
  async ping(): Promise<void> {
    this.#assertOpen();
    await this.#repaired();
    const failing = this.#failing;
    if (failing) {
      throw new HubError(
        'STORE_UNAVAILABLE',
        `the store refuses writes since ${failing.since.toISOString()}; ${this.pendingBytes()} bytes wait in the journal, ${this.#setAside.batches} batches are set aside`,
      );
    }
    await this.inner.ping();
  }

  status(): DeliveryStatus {
    return {
      storeFailing: this.#failing !== undefined,
      failingSince: this.#failing?.since.toISOString() ?? null,
      lastError: this.#failing?.error ?? null,
      waitingBytes: this.pendingBytes(),
      setAsideBatches: this.#setAside.batches,
      setAsideMessages: this.#setAside.messages,
    };
  }

  async requeueSetAside(): Promise<{ batches: number; messages: number }> {
    const entries = await this.#readDeadLetters();
    const batches = entries.flatMap((x) => (x.batch ? [x.batch] : []));
    // Each batch is durable in the journal before the file that set it aside loses it: a
    // crash in between queues some twice, and the store keeps them once (exactly-once by
    // message id: a requeued batch keeps its receive times, inside the dedup window).
    // Not under the dead-letter lock: a write may wait for room that delivery makes.
    for (const batch of batches) await this.write(batch);
    await this.#withDeadLetters(async () => {
      const now = await this.#readDeadLetters();
      // Unreadable entries stay, and so does what was set aside meanwhile.
      const rest = [...entries.filter((x) => !x.batch), ...now.slice(entries.length)];
      const file = join(this.o.dir, DEAD_LETTER);
      if (rest.length === 0) await rm(file, { force: true });
      else await writeFile(file, rest.map((x) => `${x.raw}\n`).join(''));
      this.#setAside = { batches: 0, messages: 0 };
      for (const x of rest) this.#countSetAside(x.batch);
    });
    const messages = batches.reduce((n, b) => n + b.messages.length, 0);
    if (batches.length > 0) this.o.logger.info({ batches: batches.length, messages }, 'outbox: set-aside batches queued again');
    return { batches: batches.length, messages };
  }

  pendingBytes(): number {
    let total = -this.#read.offset;
    for (const [seg, size] of this.#sizes) if (seg >= this.#read.seg) total += size;
    return total;
  }

  /** Resolves once every batch written before this call has been delivered (or dead-lettered). */
  drained(): Promise<void> {
    const at = { seg: this.#writeSeg, offset: this.#sizes.get(this.#writeSeg) ?? 0 };
    if (reached(this.#read, at)) return Promise.resolve();
    const waiting = new Promise<void>((resolve) => this.#waiters.push({ at, resolve }));
    this.#hurry?.();
    return waiting;
  }

  /** Stops delivering (the queue stays on disk for the next open, unless drainOnClose) and closes the inner store. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#appends;
      this.#hurry?.();
      if (this.o.drainOnClose && !this.#broken)
        await this.#caughtUp('close').catch((e: unknown) =>
          this.o.logger.warn({ err: e }, 'outbox: closing with batches still queued; they are delivered at the next start'),
        );
      this.#stopping = true;
      this.#wake?.();
      this.#wakeSleep?.();
      for (const r of this.#roomWaiters.splice(0)) r();
      await this.#drainer;
      await this.#writeFh?.close();
      await this.#readFh?.fh.close();
      await this.inner.close();
    })();
    return this.#closing;
  }

  /** drained(), bounded by eraseWaitMs: the reason names what was waiting. */
  async #caughtUp(reason: 'read' | 'erasure' | 'retention' | 'close'): Promise<void> {
    const pending = this.drained();
    const waitMs = this.o.eraseWaitMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new HubError('STORE_UNAVAILABLE', `queued telemetry not yet stored after ${waitMs} ms; ${reason} not started, try again`)),
        waitMs,
      );
    });
    try {
      await Promise.race([pending, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  // ---- erasure: no copy of a participant's lines stays in the queue's files ----

  /**
   * The queue's files without `ids` (batchWithout): the segments are rewritten, after
   * delivering what is queued when `deliverFirst` names why, then the dead-letter file.
   * Runs in the append queue, so no append lands meanwhile.
   */
  async #forget(ids: ReadonlySet<string>, key: 'participantId' | 'trialId', deliverFirst?: 'erasure' | 'retention'): Promise<void> {
    const run = this.#appends.then(async () => {
      if (deliverFirst) await this.#caughtUp(deliverFirst);
      await this.#exclusive(() => this.#rewriteSegments(ids, key));
    });
    this.#appends = run.catch(() => undefined);
    await run;
    await this.#withDeadLetters(() => this.#scrubDeadLetter(ids, key));
  }

  /**
   * Copies the lines not yet delivered, without `ids`, into a new segment that takes the
   * appends from then on, and deletes every older segment: delivered lines are needed
   * nowhere, and they hold the participant's among everyone else's. The cursor moves
   * first, so a crash before the old segments are gone deletes them at the next open.
   * Holds the queue files, so no delivery is half-way through them.
   */
  async #rewriteSegments(ids: ReadonlySet<string>, key: 'participantId' | 'trialId'): Promise<void> {
    const next = this.#writeSeg + 1;
    const fh = await open(this.#path(next), APPEND_DURABLY);
    let size = 0;
    try {
      for (const [seg, end] of this.#sizes) {
        const from = seg === this.#read.seg ? this.#read.offset : 0;
        if (seg < this.#read.seg || end <= from) continue;
        const kept = linesWithout(await readRange(this.#path(seg), from, end), ids, key);
        await writeWhole(fh, kept);
        size += kept.length;
      }
    } catch (e) {
      await fh.close();
      await rm(this.#path(next), { force: true });
      throw e;
    }
    await this.#writeFh?.close();
    await this.#readFh?.fh.close();
    this.#readFh = undefined;
    this.#writeFh = fh;
    this.#broken = undefined; // the segment it was about goes
    const old = [...this.#sizes.keys()];
    this.#sizes.clear();
    this.#sizes.set(next, size);
    this.#writeSeg = next;
    this.#read = { seg: next, offset: 0 };
    await this.#saveCursor();
    await this.#syncDir();
    for (const seg of old) await rm(this.#path(seg), { force: true });
    await this.#syncDir();
    // Whatever a waiter waited for was copied into the new segment, so it waits for all of it.
    const copied = { seg: next, offset: size };
    this.#waiters = this.#waiters.flatMap((w) => (reached(this.#read, copied) ? (w.resolve(), []) : [{ ...w, at: copied }]));
    this.#checkAlarm();
  }

  /** Runs fn while no delivery is between reading its lines and moving past them. */
  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queueFiles.then(fn);
    this.#queueFiles = run.catch(() => undefined);
    return run;
  }

  /** The participant ids named in the segments on disk (delivered lines included) and in the dead-letter file. */
  async #participantsInFiles(): Promise<Set<string>> {
    const found = new Set<string>();
    for (const seg of [...this.#sizes.keys()]) {
      for (const id of participantIdsIn(await readFile(this.#path(seg), 'utf8'))) found.add(id);
    }
    for (const { batch } of await this.#readDeadLetters()) {
      for (const x of [...(batch?.points ?? []), ...(batch?.rejections ?? [])]) if (x.participantId !== null) found.add(x.participantId);
    }
    return found;
  }

  /**
   * The dead-letter file keeps batches the store refused, for someone to look at; it
   * loses what #forget removes (rewritten, then renamed over it). A line that cannot be
   * read as a batch cannot be attributed: it goes if it names one of `ids` anywhere.
   */
  async #scrubDeadLetter(ids: ReadonlySet<string>, key: 'participantId' | 'trialId'): Promise<void> {
    const file = join(this.o.dir, DEAD_LETTER);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      return; // none
    }
    const names = (line: string): boolean => [...ids].some((id) => line.includes(id));
    if (!names(text)) return;
    const kept = text.split('\n').flatMap((line) => (!line ? [] : !names(line) ? [line] : (entryWithout(line, ids, key) ?? [])));
    const tmp = `${file}.tmp`;
    await writeFile(tmp, kept.map((l) => `${l}\n`).join(''));
    await rename(tmp, file);
    await this.#syncDir();
    this.#setAside = { batches: 0, messages: 0 };
    for (const entry of await this.#readDeadLetters()) this.#countSetAside(entry.batch);
  }

  // ---- appending ----

  async #append(batch: IngestBatch): Promise<WriteResult> {
    await this.#repaired();
    assertBatchConsistent(batch);
    const ids = new Set(batch.messages.map((m) => m.id));
    const result = { storedMessages: ids.size, duplicateMessages: batch.messages.length - ids.size };
    if (ids.size === 0) return result;
    // A participant erased elsewhere meanwhile: their points are acknowledged and dropped.
    const kept = holdsAny(batch, this.#forgotten, 'participantId') ? batchWithout(batch, this.#forgotten, 'participantId') : batch;
    if (kept === undefined) return result;

    const line = Buffer.from(`${encode(kept)}\n`);
    while (this.pendingBytes() + line.length > this.o.maxBytes) {
      this.#checkAlarm(true);
      // An empty queue takes any line: a batch larger than maxBytes must not wait forever.
      if (this.o.whenFull === 'wait' && this.pendingBytes() > 0 && !this.#stopping) {
        await new Promise<void>((r) => this.#roomWaiters.push(r));
        continue;
      }
      if (this.pendingBytes() === 0) break;
      throw new HubError('STORE_UNAVAILABLE', `outbox full: ${this.pendingBytes()} of ${this.o.maxBytes} bytes queued, the store is not keeping up`);
    }
    const size = this.#sizes.get(this.#writeSeg) ?? 0;
    if (size > 0 && size + line.length > this.#segmentBytes) {
      await this.#rotate().catch((e: unknown) => {
        throw new HubError('STORE_UNAVAILABLE', `outbox could not start a new segment: ${(e as Error).message}`, { cause: e });
      });
    }
    const before = this.#sizes.get(this.#writeSeg) ?? 0;
    try {
      await writeWhole(this.#writeFh!, line);
    } catch (e) {
      // Not acknowledged, so its bytes must go now: a partial line left in place would be
      // taken for a crash's leftover only at the next start, and the lines appended after
      // it would be unreadable until then.
      await this.#cutBack(before);
      throw new HubError('STORE_UNAVAILABLE', `outbox append failed: ${(e as Error).message}`, { cause: e });
    }
    this.#sizes.set(this.#writeSeg, before + line.length);
    this.#checkAlarm();
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    if (this.pendingBytes() >= this.#deliveryBytes / 2) this.#hurry?.();
    return result;
  }

  /** Opens the next segment before letting go of the current one: a failed open leaves appends where they were. */
  async #rotate(): Promise<void> {
    const next = this.#writeSeg + 1;
    const fh = await open(this.#path(next), APPEND_DURABLY);
    await this.#writeFh?.close();
    this.#writeFh = fh;
    this.#writeSeg = next;
    this.#sizes.set(next, 0);
    await this.#syncDir(); // the new file's directory entry is durable too
  }

  /**
   * Truncates the segment taking appends back to `size` (the end of its last whole line).
   * If even that fails (EIO), the journal takes no appends until a later try succeeds:
   * an append after a partial line would be lost with it.
   */
  async #cutBack(size: number): Promise<void> {
    try {
      await this.#writeFh!.truncate(size);
      await this.#writeFh!.datasync();
      if (this.#broken) this.o.logger.info({ seg: this.#writeSeg, size }, 'outbox: partial line cut away, taking appends again');
      this.#broken = undefined;
    } catch (e) {
      if (!this.#broken) this.o.logger.error({ err: e, seg: this.#writeSeg, size }, 'outbox: cannot cut away a failed append; refusing appends until it can');
      this.#broken = { error: e as Error, size };
    }
  }

  /** Throws while a failed append could not be cut away, after trying once more. */
  async #repaired(): Promise<void> {
    if (!this.#broken) return;
    await this.#cutBack(this.#broken.size);
    if (this.#broken) throw new HubError('STORE_UNAVAILABLE', `outbox unusable until a failed append is cut away: ${this.#broken.error.message}`);
  }

  // ---- draining ----

  async #drain(): Promise<void> {
    let failures = 0;
    while (!this.#stopping) {
      try {
        await this.#gather();
        // Waits and backoffs happen outside the queue files' lock, so a rewrite (erasure) need not wait for them.
        const next = await this.#exclusive(() => this.#deliverNext(failures));
        if (next === 'idle') await this.#idle();
        else if (next > failures) await this.#sleep(this.#backoff(next));
        if (next !== 'idle') failures = next;
      } catch (e) {
        // Trouble with the queue files themselves: say so, wait, try again.
        failures += 1;
        this.o.logger.error({ err: e }, 'outbox: reading the queue failed');
        await this.#sleep(this.#backoff(failures));
      }
    }
  }

  /**
   * Delivers the queued lines that fit in one read (or waits for some), merged into one
   * inner write: a backlog drains in a few large transactions, not one per batch. Returns
   * the count of consecutive failures (more than before: back off), or 'idle' when
   * nothing is queued.
   */
  async #deliverNext(failures: number): Promise<number | 'idle'> {
    const lines = await this.#nextLines();
    if (lines.length === 0) return 'idle';
    const entries: Entry[] = lines.map(({ line, bytes }) => {
      try {
        return { line, bytes, batch: decode(line) };
      } catch (e) {
        return { line, bytes, unreadable: e };
      }
    });
    const readable = entries.flatMap((x) => (x.batch ? [x.batch] : []));
    let settled = entries.length;
    let refused: { entry: Entry; error: unknown }[] = [];
    try {
      if (readable.length > 0) this.#delivered(await this.inner.write(merge(readable)));
    } catch (e) {
      if (isStoreOutage(e)) return this.#outage(e, failures);
      // One of the merged batches may be invalid: each alone tells which.
      const alone = await this.#oneByOne(entries);
      settled = alone.settled;
      refused = alone.refused;
      // A batch refused while the store took none of the others proves nothing about
      // the batch: wait, as for an outage, until the store takes something.
      if (alone.accepted === 0 && refused.length > 0) return this.#outage(refused[0]!.error, failures);
      if (alone.outage !== undefined) failures = this.#outage(alone.outage, failures);
    }
    for (const x of entries.slice(0, settled)) if (x.unreadable !== undefined) await this.#deadLetter(x.line, x.unreadable);
    for (const { entry, error } of refused) await this.#deadLetter(entry.line, error);
    const whole = settled === entries.length; // else an outage stopped delivery part-way
    if (whole && this.#failing) {
      this.o.logger.info({ failures, pendingBytes: this.pendingBytes(), downSince: this.#failing.since }, 'outbox: store is back, delivering the backlog');
      this.#failing = undefined; // before #advance: whoever it wakes sees the store as working
    }
    await this.#advance(entries.slice(0, settled).reduce((n, x) => n + x.bytes, 0));
    return whole ? 0 : failures;
  }

  /**
   * Delivers the entries one at a time, up to the first outage. Returns how many leading
   * entries are settled (stored, or to be set aside), the refused ones among them, how
   * many the store accepted, and the outage that stopped it, if one did.
   */
  async #oneByOne(entries: readonly Entry[]): Promise<{ settled: number; accepted: number; refused: { entry: Entry; error: unknown }[]; outage?: unknown }> {
    const refused: { entry: Entry; error: unknown }[] = [];
    let accepted = 0;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i]!;
      if (!entry.batch) continue;
      try {
        this.#delivered(await this.inner.write(entry.batch));
        accepted++;
      } catch (e) {
        if (isStoreOutage(e)) return { settled: i, accepted, refused, outage: e };
        refused.push({ entry, error: e });
      }
    }
    return { settled: entries.length, accepted, refused };
  }

  /** Waits for an append (or close()). */
  async #idle(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      // Re-check: an append or close() may have landed while #nextLines was finishing.
      if (this.#stopping || this.pendingBytes() > 0) resolve();
    });
    this.#wake = undefined;
  }

  /** Records the outage (said once, then every 20th failure); returns the failure count, for the backoff. */
  #outage(e: unknown, failures: number): number {
    const error = (e as Error)?.message?.split('\n')[0] ?? String(e);
    this.#failing = { since: this.#failing?.since ?? new Date(), error };
    if (failures === 0 || (failures + 1) % 20 === 0) {
      this.o.logger.warn(
        { err: e, failures: failures + 1, pendingBytes: this.pendingBytes() },
        'outbox: the store refuses writes (an outage, not bad data); batches stay queued and are retried',
      );
    }
    return failures + 1;
  }

  /** Waits up to deliveryDelayMs while nobody needs the queue delivered now. */
  async #gather(): Promise<void> {
    const delayMs = this.o.deliveryDelayMs ?? 0;
    const urgent = (): boolean => this.#stopping || this.#closing !== undefined || this.#waiters.length > 0 || this.pendingBytes() >= this.#deliveryBytes / 2;
    if (delayMs <= 0 || this.pendingBytes() === 0 || urgent()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, delayMs);
      this.#hurry = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#hurry = undefined;
  }

  /** Undelivered lines of the oldest segment, up to deliveryBytes; moves past (and deletes) delivered segments. */
  async #nextLines(): Promise<{ line: string; bytes: number }[]> {
    for (;;) {
      const { seg, offset } = this.#read;
      const size = this.#sizes.get(seg) ?? 0;
      if (offset < size) break;
      if (seg >= this.#writeSeg) return [];
      if (this.#readFh?.seg === seg) await this.#readFh.fh.close();
      this.#readFh = undefined;
      this.#sizes.delete(seg);
      this.#read = { seg: seg + 1, offset: 0 };
      await this.#saveCursor();
      await rm(this.#path(seg), { force: true });
    }
    const { seg, offset } = this.#read;
    if (this.#readFh?.seg !== seg) {
      await this.#readFh?.fh.close();
      this.#readFh = { seg, fh: await open(this.#path(seg), 'r') };
    }
    const available = (this.#sizes.get(seg) ?? 0) - offset;
    let buf = Buffer.allocUnsafe(Math.min(available, this.#deliveryBytes));
    for (;;) {
      const { bytesRead } = await this.#readFh.fh.read(buf, 0, buf.length, offset);
      const data = buf.subarray(0, bytesRead);
      const lines: { line: string; bytes: number }[] = [];
      let start = 0;
      for (let nl = data.indexOf(10); nl >= 0; nl = data.indexOf(10, start)) {
        lines.push({ line: data.toString('utf8', start, nl), bytes: nl + 1 - start });
        start = nl + 1;
      }
      if (lines.length > 0) return lines;
      // One line longer than the read: read it whole.
      if (bytesRead < buf.length || buf.length >= available) throw new Error(`outbox segment ${seg} has no line end after offset ${offset}`);
      buf = Buffer.allocUnsafe(Math.min(available, buf.length * 2));
    }
  }

  #delivered(result: WriteResult): void {
    try {
      this.o.onDelivered?.(result);
    } catch (e) {
      this.o.logger.error({ err: e }, 'outbox: onDelivered failed');
    }
  }

  async #advance(bytes: number): Promise<void> {
    this.#read = { seg: this.#read.seg, offset: this.#read.offset + bytes };
    // Not fsynced: a cursor lost in a crash only means some batches are delivered twice.
    await this.#saveCursor();
    this.#checkAlarm();
    this.#waiters = this.#waiters.filter((w) => (reached(this.#read, w.at) ? (w.resolve(), false) : true));
    for (const r of this.#roomWaiters.splice(0)) r();
  }

  /** Sets a batch aside: durable in dead-letter.ndjson before delivery moves past it. */
  async #deadLetter(line: string, e: unknown): Promise<void> {
    this.o.logger.error(
      { err: e },
      'outbox: a batch is invalid (the store refused it alone while taking others, or it cannot be read); kept in dead-letter.ndjson, continuing with the next',
    );
    const entry = JSON.stringify({ failedAt: new Date().toISOString(), error: (e as Error)?.message ?? String(e), batch: line });
    await this.#withDeadLetters(async () => {
      const fh = await open(join(this.o.dir, DEAD_LETTER), 'a');
      try {
        await fh.write(`${entry}\n`);
        await fh.datasync();
      } finally {
        await fh.close();
      }
      try {
        this.#countSetAside(decode(line));
      } catch {
        this.#countSetAside(undefined);
      }
    });
  }

  /** Runs fn after every earlier change to dead-letter.ndjson. */
  #withDeadLetters<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#deadLetters.then(fn);
    this.#deadLetters = run.catch(() => undefined);
    return run;
  }

  #countSetAside(batch: IngestBatch | undefined): void {
    this.#setAside = { batches: this.#setAside.batches + 1, messages: this.#setAside.messages + (batch?.messages.length ?? 0) };
  }

  /** The entries of dead-letter.ndjson, with their batch when it can be read. */
  async #readDeadLetters(): Promise<{ raw: string; batch: IngestBatch | undefined }[]> {
    let text: string;
    try {
      text = await readFile(join(this.o.dir, DEAD_LETTER), 'utf8');
    } catch {
      return [];
    }
    return text.split('\n').flatMap((l): { raw: string; batch: IngestBatch | undefined }[] => {
      if (l.trim() === '') return [];
      try {
        return [{ raw: l, batch: decode((JSON.parse(l) as { batch: string }).batch) }];
      } catch {
        return [{ raw: l, batch: undefined }];
      }
    });
  }

  /** A retry delay that only close() cuts short (appends do not: that would defeat the backoff). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wakeSleep = undefined;
        resolve();
      }, ms);
      this.#wakeSleep = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  #backoff(failures: number): number {
    const min = this.o.retry?.minMs ?? 200;
    const max = this.o.retry?.maxMs ?? 30_000;
    const base = Math.min(max, min * 2 ** Math.min(failures - 1, 30));
    return Math.round(base * (0.8 + Math.random() * 0.4)); // jitter: restarts don't stampede
  }

  // ---- bookkeeping ----

  #checkAlarm(refused = false): void {
    const used = this.pendingBytes();
    if (!this.#alarmed && (refused || used >= this.#warnAt)) {
      this.#alarmed = true;
      this.o.logger.warn({ usedBytes: used, maxBytes: this.o.maxBytes }, 'outbox nearly full: the store is not keeping up');
      this.o.onNearlyFull?.(used);
    } else if (this.#alarmed && used < this.#warnAt / 2) {
      this.#alarmed = false; // re-arm once the backlog has clearly shrunk
    }
  }

  async #repairTail(seg: number): Promise<void> {
    // A crash during an append can leave a partial last line; it was never acknowledged.
    const data = await readFile(this.#path(seg));
    const end = data.lastIndexOf(10) + 1;
    if (end === data.length) return;
    this.o.logger.warn({ seg, droppedBytes: data.length - end }, 'outbox: dropping a partial line left by a crash');
    const fh = await open(this.#path(seg), 'r+');
    try {
      await fh.truncate(end);
      await fh.datasync();
    } finally {
      await fh.close();
    }
    this.#sizes.set(seg, end);
    if (this.#read.seg === seg) this.#read.offset = Math.min(this.#read.offset, end);
  }

  async #loadCursor(): Promise<Position | undefined> {
    try {
      const c = JSON.parse(await readFile(join(this.o.dir, 'cursor.json'), 'utf8')) as Position;
      return Number.isSafeInteger(c.seg) && Number.isSafeInteger(c.offset) && c.offset >= 0 ? c : undefined;
    } catch {
      return undefined; // none yet, or torn: start at the oldest segment (redelivery is safe)
    }
  }

  async #saveCursor(): Promise<void> {
    const tmp = join(this.o.dir, 'cursor.json.tmp');
    await writeFile(tmp, JSON.stringify(this.#read));
    await rename(tmp, join(this.o.dir, 'cursor.json'));
  }

  async #syncDir(): Promise<void> {
    const d = await open(this.o.dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }

  #path(seg: number): string {
    return join(this.o.dir, segmentName(seg));
  }

  #assertOpen(): void {
    if (this.#closing) throw new HubError('STORE_UNAVAILABLE', 'outbox is closed');
  }
}

/**
 * write(2) may write less than asked (a disk filling up mid-line) without an error:
 * the rest is written by further calls, and the one that cannot write any of it fails.
 * O_DSYNC makes each call durable before it returns.
 */
async function writeWhole(fh: FileHandle, data: Buffer): Promise<void> {
  for (let done = 0; done < data.length; ) {
    const { bytesWritten } = await fh.write(data, done, data.length - done);
    if (bytesWritten <= 0) throw new Error(`write made no progress at byte ${done} of ${data.length}`);
    done += bytesWritten;
  }
}

/** Bytes [from, end) of a file. */
async function readRange(path: string, from: number, end: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(end - from);
    const { bytesRead } = await fh.read(buf, 0, buf.length, from);
    if (bytesRead < buf.length) throw new Error(`${path} ends at ${from + bytesRead}, before ${end}`);
    return buf;
  } finally {
    await fh.close();
  }
}

const reached = (read: Position, at: Position): boolean => read.seg > at.seg || (read.seg === at.seg && read.offset >= at.offset);
