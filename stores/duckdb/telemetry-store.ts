import { BIGINT, type DuckDBConnection, type DuckDBInstance, VARCHAR } from '@duckdb/node-api';
import { mkdir } from 'node:fs/promises';
import { HubError } from '../../kernel/errors.js';
import type {
  Bucket,
  BucketQuery,
  DatasetExportRequest,
  DatasetRowCounts,
  PointQuery,
  RejectionCount,
  RejectionQuery,
  TelemetryStore,
} from '../../kernel/ports.js';
import { openDuckDbInstance } from './instance.js';
import { withMemoryReport } from './memory.js';
import { DEFAULT_DEDUP_WINDOW_MS, firstOf, seenMessages, uniqueMessages } from './dedup.js';
import { assertLimit, limitClause, Params, pointsFrom, rejectionFilters } from './query.js';
import {
  appendAll,
  appendPoint,
  appendRejection,
  appendStagedMessage,
  asBigInt,
  asNumber,
  asString,
  POINT_COLUMNS,
  pointAt,
  REJECTION_COLUMNS,
  rejectionFromRow,
} from './rows.js';
import { migrateKeyedMessages, migratePointRanges, SCHEMA, STAGING } from './schema.js';
import { copyToFreshFile, emptyFolder, replaceWithFresh } from './compact.js';
import { exportDataset } from './export.js';
import {
  ARCHIVES_DDL,
  archiveFiles,
  archiveFolderOf,
  archiveTrialPoints,
  commitArchive,
  eraseFromArchives,
  openArchives,
  removeArchiveFiles,
} from './archive.js';
import { rebuildPointRanges, recordPointRanges, spanOf, windowsBackFrom } from './point-ranges.js';
import { countIndicators } from './indicators.js';
import type { IndicatorCounts, IndicatorQuery } from '../../kernel/indicators.js';
import {
  assertBatchConsistent,
  assertWholeMilliseconds,
  type IngestBatch,
  type Point,
  type Rejection,
  type RejectionCode,
  type WriteResult,
} from '../../kernel/telemetry.js';

/**
 * TelemetryStore on an embedded DuckDB file.
 *
 * Exactly-once comes from `messages`, one row per stored message id, with no index: a
 * batch's ids are looked up among the messages received within the dedup window before
 * it, and among those whose earliest device time falls where the batch's do
 * (README.md in this folder: the window and why it is safe). Rows are appended in
 * receive order, so DuckDB's per-row-group min/max of received_at and device_time skip
 * the rest of history, and nothing of it is held in memory. `points` and `rejections`
 * have no keys either. Every write() is one transaction on a single writer connection,
 * serialised by a promise chain. Reads use a connection of their own per call: a DuckDB
 * connection runs one query at a time, and starting a second query silently ends a
 * streaming result already open on it.
 */

const DEFAULT_REJECTION_LIMIT = 100;
const DEFAULT_MEMORY_LIMIT = '512MB';

export interface DuckDbTelemetryOptions {
  readonly path: string;
  /** DuckDB's memory_limit; default 512MB. */
  readonly memoryLimit?: string;
  /**
   * How long after the original a redelivery is recognised by its receive time (every
   * message, rejected ones too); default 1 h. Accepted messages are also recognised by
   * their device time, however late (README.md in this folder).
   */
  readonly dedupWindowMs?: number;
}

/** What it takes to open the file again after erasure rewrote it. */
interface StoreFiles {
  readonly path: string;
  readonly memoryLimit: string;
}

/** The DuckDB store's own operations beyond the port. */
export interface DuckDbTelemetryStore extends TelemetryStore {
  /** Deletes a trial's points, rejections and archives for good (retention); returns the points deleted from the file. */
  deleteTrial(trialId: string): Promise<number>;
  /** Moves a closed trial's points to a Parquet archive the dataset export still reads; returns how many. */
  archiveTrial(trialId: string): Promise<number>;
}

export async function openDuckDbTelemetryStore(opts: DuckDbTelemetryOptions): Promise<DuckDbTelemetryStore> {
  const files = { path: opts.path, memoryLimit: opts.memoryLimit ?? DEFAULT_MEMORY_LIMIT };
  const [instance, writer] = await openFile(files);
  return new DuckDbStore(files, instance, writer, opts.dedupWindowMs ?? DEFAULT_DEDUP_WINDOW_MS);
}

async function openFile(files: StoreFiles): Promise<[DuckDBInstance, DuckDBConnection]> {
  // DuckDB takes 80 % of the machine's memory by default; sorting a large export would
  // grow the hub by hundreds of MB. Past the limit it spills to a folder beside the file.
  const instance = await openDuckDbInstance(files.path, { memory_limit: files.memoryLimit, temp_directory: spillFolderOf(files.path) });
  try {
    const writer = await instance.connect();
    // After a crash DuckDB replays the WAL into memory and keeps it there until a
    // checkpoint (an 11.8 MB WAL held 31.5 MB, and the start-up replay's read then
    // failed at 48MB): written to the file now, before anything else needs the memory.
    await writer.run('CHECKPOINT');
    for (const ddl of SCHEMA) await writer.run(ddl);
    await migrateKeyedMessages(writer);
    await migratePointRanges(writer);
    await writer.run(ARCHIVES_DDL);
    await mkdir(archiveFolderOf(files.path), { recursive: true, mode: 0o700 });
    await openArchives(writer, archiveFolderOf(files.path));
    return [instance, writer];
  } catch (e) {
    instance.closeSync();
    throw e;
  }
}

const spillFolderOf = (path: string): string => `${path}.tmp`;

class DuckDbStore implements DuckDbTelemetryStore {
  /** Tail of the writer queue; never rejects, so one failed write does not block the next. */
  #writeQueue: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;
  /** Read connections in use, so close() can end them. */
  readonly #readers = new Set<DuckDBConnection>();
  /** Set while the file is being replaced (erasure): new reads wait for it. */
  #swap: Promise<void> | undefined;
  /** Read connections being opened: a swap waits for them too. */
  #opening = 0;
  /** Called when the last reader closes, while a swap waits for that. */
  #idle: (() => void) | undefined;

  constructor(
    private readonly files: StoreFiles,
    private instance: DuckDBInstance,
    private writer: DuckDBConnection,
    private readonly dedupWindowMs: number,
  ) {}

  write(batch: IngestBatch): Promise<WriteResult> {
    return this.#serialised(() => this.#writeBatch(batch));
  }

  /**
   * Erasure: the participant's points go, their rejections stay (counted, promise 2)
   * without participant, payload and message (which may quote the payload), and then the
   * file is rewritten (./compact.ts) so that none of it stays in freed blocks, dictionaries
   * or statistics. Message ids stay, so a redelivery cannot bring anything back.
   */
  eraseParticipant(participantId: string): Promise<number> {
    return this.#deleteAndRewrite(async (c) => {
      const p = [participantId];
      const erased = (await c.run('DELETE FROM points WHERE participant_id = $1', p, [VARCHAR])).rowsChanged;
      await c.run(`UPDATE rejections SET participant_id = NULL, payload = NULL, message = '' WHERE participant_id = $1`, p, [VARCHAR]);
      // Archived trials too (./archive.ts): each file holding them is written again without them.
      return async () => erased + (await eraseFromArchives(c, participantId));
    });
  }

  /**
   * Retention of a closed trial: its points, rejections and archives deleted, then the
   * file rewritten as for an erasure, so none of it stays in freed blocks, dictionaries
   * or statistics. Message ids stay, so a device resending cannot bring them back.
   */
  deleteTrial(trialId: string): Promise<number> {
    return this.#deleteAndRewrite(async (c) => {
      const t = [trialId];
      const deleted = (await c.run('DELETE FROM points WHERE trial_id = $1', t, [VARCHAR])).rowsChanged;
      await c.run('DELETE FROM rejections WHERE trial_id = $1', t, [VARCHAR]);
      const files = await archiveFiles(c, trialId);
      await c.run('DELETE FROM archives WHERE trial_id = $1', t, [VARCHAR]);
      return async () => {
        await removeArchiveFiles(files);
        return deleted;
      };
    });
  }

  /**
   * Retention of a closed trial by archive: its points move to a Parquet file (zstd)
   * beside the store's, which the dataset export still reads and an erasure still
   * reaches (./archive.ts); the store's file is rewritten without them. Its rejections
   * stay, under their own retention (expireRejections). Returns the points archived.
   */
  archiveTrial(trialId: string): Promise<number> {
    return this.#deleteAndRewrite(async (c) => {
      const archived = await archiveTrialPoints(c, archiveFolderOf(this.files.path), trialId, Date.now());
      return async () => {
        if (archived === null) return 0;
        await commitArchive(archived.file);
        return archived.points;
      };
    });
  }

  /**
   * Runs `change` in one transaction with point_ranges rebuilt after it; once committed,
   * runs what `change` returned and rewrites the file. Returns that function's count.
   */
  #deleteAndRewrite(change: (c: DuckDBConnection) => Promise<() => Promise<number>>): Promise<number> {
    // Through the writer queue: a DELETE must not land inside another caller's transaction.
    return this.#serialised(async () => {
      const c = this.writer;
      await c.run('BEGIN TRANSACTION');
      let committed: () => Promise<number>;
      try {
        committed = await change(c);
        await rebuildPointRanges(c);
        await c.run('COMMIT');
      } catch (e) {
        await c.run('ROLLBACK').catch(() => undefined);
        throw e;
      }
      const n = await committed();
      await this.#rewriteFile();
      return n;
    });
  }

  expireRejections(before: number): Promise<number> {
    // Through the writer queue, like every write. Their message ids stay in `messages`:
    // a late redelivery is still known as one.
    return this.#serialised(async () => {
      const result = await this.writer.run('DELETE FROM rejections WHERE received_at < $1', [before], [BIGINT]);
      return result.rowsChanged;
    });
  }

  /** Inside the writer queue: waits for running reads, holds new ones, swaps the file in. */
  async #rewriteFile(): Promise<void> {
    let release!: () => void;
    this.#swap = new Promise((resolve) => (release = resolve));
    try {
      if (this.#readers.size > 0 || this.#opening > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      this.#idle = undefined;
      await copyToFreshFile(this.writer, this.files.path);
      this.writer.closeSync();
      this.instance.closeSync();
      try {
        await replaceWithFresh(this.files.path);
        // Spilled sort runs and rendered export lines: no query runs now, none is needed.
        await emptyFolder(spillFolderOf(this.files.path));
      } finally {
        // The old file again if the swap failed, so the store stays usable either way.
        [this.instance, this.writer] = await openFile(this.files);
      }
    } finally {
      this.#swap = undefined;
      release();
    }
  }

  async *points(query: PointQuery): AsyncGenerator<Point> {
    const reader = await this.#openReader();
    try {
      if (query.order !== 'desc' || query.limit === undefined) {
        yield* this.#stream(reader, query);
        return;
      }
      // Newest first with a limit (latest values): backwards from where the series end,
      // one growing window at a time, so the history before them is not read (point-ranges.ts).
      let left = assertLimit(query.limit);
      const span = await spanOf(reader, query);
      if (span === null) return;
      for (const [from, to] of windowsBackFrom(span, left, query.from, query.to)) {
        if (left <= 0) return;
        for await (const p of this.#stream(reader, { ...query, from, to, limit: left })) {
          left -= 1;
          yield p;
        }
      }
    } finally {
      this.#closeReader(reader);
    }
  }

  async *#stream(reader: DuckDBConnection, query: PointQuery): AsyncGenerator<Point> {
    const params = new Params();
    const from = pointsFrom(query, params);
    const dir = query.order === 'desc' ? 'DESC' : 'ASC';
    const sql = `SELECT ${POINT_COLUMNS} FROM ${from}
      ORDER BY device_time ${dir}, message_id ${dir}, seq ${dir}${limitClause(query.limit, params)}`;
    // A streaming result hands rows over one chunk (~2k rows) at a time; DuckDB does
    // the sort on its side (spilling to disk if it must), so JS memory stays bounded.
    const result = await reader.stream(sql, params.values, params.types);
    for (;;) {
      this.#assertOpen();
      const chunk = await result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) return;
      // Typed column vectors, read cell by cell: several times faster than chunk.getRows().
      const columns = Array.from({ length: chunk.columnCount }, (_, i) => chunk.getColumnVector(i));
      for (let row = 0; row < chunk.rowCount; row++) yield pointAt(columns, row);
    }
  }

  /** Datasets written by DuckDB itself (./export.ts), on a read connection of their own, archived trials included. */
  exportTo(request: DatasetExportRequest, file: string): Promise<DatasetRowCounts> {
    return this.#read(async (c) => exportDataset(c, request, file, await archiveFiles(c, request.query.trialId)));
  }

  /** Trial indicators counted by DuckDB (./indicators.ts), on a read connection of their own, archived trials included. */
  indicatorCounts(query: IndicatorQuery): Promise<IndicatorCounts> {
    return this.#read(async (c) => countIndicators(c, query, await archiveFiles(c, query.trialId)));
  }

  async aggregate(query: BucketQuery): Promise<Bucket[]> {
    if (!Number.isSafeInteger(query.bucketMs) || query.bucketMs <= 0) {
      throw new HubError('VALIDATION_FAILED', 'bucketMs must be a positive integer');
    }
    if (query.kind === 'event') return []; // aggregates cover readings only
    const params = new Params();
    const from = pointsFrom({ ...query, kind: 'reading' }, params);
    const b = params.add(query.bucketMs, BIGINT);
    // Floor division that also holds for times before 1970 (% keeps the dividend's sign).
    const start = `device_time - (((device_time % ${b}) + ${b}) % ${b})`;
    const dir = query.order === 'desc' ? 'DESC' : 'ASC';
    const sql = `SELECT ${start} AS bucket_start, device_id, name,
        count(*), min(value), max(value), avg(value), sum(value)
      FROM ${from}
      GROUP BY ALL ORDER BY bucket_start ${dir}, device_id, name${limitClause(query.limit, params)}`;
    const rows = await this.#read((c) => c.runAndReadAll(sql, params.values, params.types));
    return rows.getRows().map((r) => ({
      start: asNumber(r[0]),
      deviceId: asString(r[1]),
      name: asString(r[2]),
      count: asNumber(r[3]),
      min: asNumber(r[4]),
      max: asNumber(r[5]),
      mean: asNumber(r[6]),
      sum: asNumber(r[7]),
    }));
  }

  async rejections(query: RejectionQuery): Promise<Rejection[]> {
    const params = new Params();
    const where = rejectionFilters(query, params);
    const sql = `SELECT ${REJECTION_COLUMNS} FROM rejections WHERE ${where}
      ORDER BY received_at DESC, message_id DESC${limitClause(query.limit ?? DEFAULT_REJECTION_LIMIT, params)}`;
    const rows = await this.#read((c) => c.runAndReadAll(sql, params.values, params.types));
    return rows.getRows().map(rejectionFromRow);
  }

  async rejectionCounts(query: RejectionQuery): Promise<RejectionCount[]> {
    // query.limit bounds listed rejections, not counts: every (device, code) pair is returned.
    const params = new Params();
    const where = rejectionFilters(query, params);
    const sql = `SELECT device_id, code, count(*) FROM rejections WHERE ${where}
      GROUP BY device_id, code ORDER BY device_id, code`;
    const rows = await this.#read((c) => c.runAndReadAll(sql, params.values, params.types));
    return rows.getRows().map((r) => ({
      deviceId: asString(r[0]),
      code: asString(r[1]) as RejectionCode,
      count: asNumber(r[2]),
    }));
  }

  async ping(): Promise<void> {
    await this.#read((c) => c.run('SELECT 1'));
  }

  close(): Promise<void> {
    this.#closing ??= this.#shutdown();
    return this.#closing;
  }

  async #shutdown(): Promise<void> {
    await this.#writeQueue; // let accepted writes commit rather than cut them off
    for (const reader of this.#readers) reader.closeSync();
    this.#readers.clear();
    this.writer.closeSync();
    this.instance.closeSync();
  }

  // ---- writing ----

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    try {
      this.#assertOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    const run = this.#writeQueue.then(task);
    this.#writeQueue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #writeBatch(batch: IngestBatch): Promise<WriteResult> {
    assertBatchConsistent(batch);
    assertWholeMilliseconds(batch);
    const messages = uniqueMessages(batch);
    if (messages.size === 0) return { storedMessages: 0, duplicateMessages: 0 };

    const c = this.writer;
    const staged = [...messages.values()];
    const seen = seenMessages(staged, this.dedupWindowMs);
    await c.run('BEGIN TRANSACTION');
    try {
      await c.run(STAGING);
      await appendAll(c, 'staged_messages', staged, appendStagedMessage);
      const inserted = await c.runAndReadAll(
        `INSERT INTO messages SELECT s.* FROM staged_messages s ANTI JOIN (${seen.sql}) seen ON seen.id = s.id RETURNING id`,
        seen.params.values,
        seen.params.types,
      );
      const fresh = new Set((inserted.getColumns()[0] ?? []).map(asBigInt));
      if (fresh.size > 0) {
        const points = firstOf(batch.points, fresh, (p) => `${p.messageId}/${p.seq}`);
        await appendAll(c, 'points', points, appendPoint);
        await recordPointRanges(c, points);
        await appendAll(
          c,
          'rejections',
          firstOf(batch.rejections, fresh, (r) => `${r.messageId}`),
          appendRejection,
        );
      }
      await c.run('COMMIT');
      return { storedMessages: fresh.size, duplicateMessages: batch.messages.length - fresh.size };
    } catch (e) {
      await c.run('ROLLBACK').catch(() => undefined); // the original error is the one worth reporting
      throw await withMemoryReport(this.instance, e);
    }
  }

  // ---- reading ----

  async #openReader(): Promise<DuckDBConnection> {
    this.#assertOpen();
    while (this.#swap) await this.#swap;
    this.#opening += 1;
    try {
      const c = await this.instance.connect();
      this.#readers.add(c);
      if (this.#closing) {
        this.#closeReader(c); // close() ran while we were connecting
        this.#assertOpen();
      }
      return c;
    } finally {
      this.#opening -= 1;
      this.#notifyIdle();
    }
  }

  #closeReader(c: DuckDBConnection): void {
    if (this.#readers.delete(c)) c.closeSync();
    this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#readers.size === 0 && this.#opening === 0) this.#idle?.();
  }

  async #read<T>(fn: (c: DuckDBConnection) => Promise<T>): Promise<T> {
    const c = await this.#openReader();
    try {
      return await fn(c);
    } finally {
      this.#closeReader(c);
    }
  }

  #assertOpen(): void {
    if (this.#closing) throw new HubError('STORE_UNAVAILABLE', 'telemetry store is closed');
  }
}
