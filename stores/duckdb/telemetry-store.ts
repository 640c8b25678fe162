import {
  BIGINT,
  type DuckDBInstance,
  VARCHAR,
  type DuckDBAppender,
  type DuckDBConnection,
  type DuckDBType,
  type DuckDBValue,
  type DuckDBVector,
} from '@duckdb/node-api';
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
import { POINT_RANGES_DDL, STAGED_RANGES_DDL, hasPointRanges, rebuildPointRanges, recordPointRanges, spanOf, windowsBackFrom } from './point-ranges.js';
import { countIndicators } from './indicators.js';
import type { IndicatorCounts, IndicatorQuery } from '../../kernel/indicators.js';
import type { Family, HubEvent, IngestBatch, MessageId, Point, Reading, Rejection, RejectionCode, Severity, WriteResult } from '../../kernel/telemetry.js';

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

/**
 * The messages table, without a key. status is 'accepted' or 'rejected'; device_time the
 * earliest device time of its points (NULL for a rejected message). Column order
 * matters: appendStagedMessage() appends in this order.
 */
const MESSAGES_COLUMNS = `id UBIGINT NOT NULL, device_id VARCHAR NOT NULL, received_at BIGINT NOT NULL,
  status VARCHAR NOT NULL, device_time BIGINT`;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS messages (${MESSAGES_COLUMNS})`,
  // Column order matters: appendPoint() appends in exactly this order.
  `CREATE TABLE IF NOT EXISTS points (
     message_id UBIGINT NOT NULL,
     seq INTEGER NOT NULL,
     kind VARCHAR NOT NULL,
     device_id VARCHAR NOT NULL,
     profile_id VARCHAR NOT NULL,
     family VARCHAR NOT NULL,
     site_id VARCHAR,
     room_id VARCHAR,
     trial_id VARCHAR,
     participant_id VARCHAR,
     name VARCHAR NOT NULL,
     value DOUBLE,
     unit VARCHAR,
     alert_code VARCHAR,
     dispense_code VARCHAR,
     severity INTEGER,
     attributes VARCHAR, -- JSON text: events, and readings of profiles that keep unmapped fields
     device_time BIGINT NOT NULL,
     received_at BIGINT NOT NULL,
     clock_skewed BOOLEAN NOT NULL
   )`,
  // Column order matters: appendRejection() appends in exactly this order.
  `CREATE TABLE IF NOT EXISTS rejections (
     message_id UBIGINT NOT NULL,
     device_id VARCHAR NOT NULL,
     profile_id VARCHAR,
     topic VARCHAR NOT NULL,
     code VARCHAR NOT NULL,
     path VARCHAR NOT NULL,
     message VARCHAR NOT NULL,
     payload VARCHAR NOT NULL,
     received_at BIGINT NOT NULL
   )`,
  // Attribution of rejections, added after the first release: a file made before it gets
  // the columns when opened (at the end, where appendRejection() expects them). The
  // payload becomes NULL when its participant's data is erased.
  ...['site_id', 'room_id', 'trial_id', 'participant_id'].map((c) => `ALTER TABLE rejections ADD COLUMN IF NOT EXISTS ${c} VARCHAR`),
  'ALTER TABLE rejections ALTER COLUMN payload DROP NOT NULL',
  // The profile version that decoded each point, added after the first release (NULL on older points), at the end where appendPoint() puts it.
  'ALTER TABLE points ADD COLUMN IF NOT EXISTS profile_version VARCHAR',
];

/** Connection-local: holds one batch's message ids between BEGIN and COMMIT. */
const STAGING = `CREATE TEMP TABLE IF NOT EXISTS staged_messages (${MESSAGES_COLUMNS})`;

/**
 * Files written before the dedup window kept `messages` under a primary key, an index
 * DuckDB holds wholly in memory (about 45 bytes a message): rewritten once at open,
 * in receive order, with each message's earliest device time taken from its points.
 */
const MIGRATE_KEYED_MESSAGES = [
  `CREATE TABLE messages_unkeyed (${MESSAGES_COLUMNS})`,
  `INSERT INTO messages_unkeyed
     SELECT m.id, m.device_id, m.received_at, m.status, p.device_time
     FROM messages m LEFT JOIN (SELECT message_id, min(device_time) AS device_time FROM points GROUP BY message_id) p
       ON p.message_id = m.id
     ORDER BY m.received_at`,
  'DROP TABLE messages',
  'ALTER TABLE messages_unkeyed RENAME TO messages',
];

/**
 * Default dedup window by receive time. A device resends an unacknowledged PUBLISH when
 * it reconnects (MQTT-4.4.0-1), usually within minutes; later resends of accepted
 * messages are still found by their device time. The lookup's cost follows the messages
 * received in this window, not the history.
 */
export const DEFAULT_DEDUP_WINDOW_MS = 3600 * 1000;
/** Device times of one batch further apart than this are looked up as separate ranges. */
const DEVICE_TIME_GAP_MS = 3600 * 1000;
/** At most this many device-time ranges per lookup; beyond, one range spans them all. */
const MAX_DEVICE_TIME_RANGES = 16;

/** SQL ENUM type over constant values (never user input). */
const enumOf = (values: readonly string[]): string => `ENUM(${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')})`;

/**
 * The SELECT list for points; pointAt() reads by these positions. kind is a closed set
 * and comes back as an ENUM: an ENUM cell is a dictionary lookup in JS, while a VARCHAR
 * cell over 12 bytes costs a native call per row. family stays VARCHAR: families are
 * catalogue data an arena extends, and a stored family must read back even after its
 * catalogue file is gone.
 */
const POINT_COLUMNS = `message_id, seq, CAST(kind AS ${enumOf(['reading', 'event'])}) AS kind, device_id,
  profile_id, family, site_id, room_id, trial_id,
  participant_id, name, value, unit, alert_code, dispense_code, severity, attributes,
  device_time, received_at, clock_skewed, profile_version`;

const REJECTION_COLUMNS = `message_id, device_id, profile_id, topic, code, path, message, payload, received_at,
  site_id, room_id, trial_id, participant_id`;

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
    for (const ddl of SCHEMA) await writer.run(ddl);
    await migrateKeyedMessages(writer);
    await migratePointRanges(writer);
    await writer.run(ARCHIVES_DDL);
    await mkdir(archiveFolderOf(files.path), { recursive: true, mode: 0o700 });
    await openArchives(writer, archiveFolderOf(files.path));
    await writer.run(STAGING);
    await writer.run(STAGED_RANGES_DDL);
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

  /** Trial indicators counted by DuckDB (./indicators.ts), on a read connection of their own. */
  indicatorCounts(query: IndicatorQuery): Promise<IndicatorCounts> {
    return this.#read((c) => countIndicators(c, query));
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
    const messages = uniqueMessages(batch);
    assertConsistent(batch, messages);
    if (messages.size === 0) return { storedMessages: 0, duplicateMessages: 0 };

    const c = this.writer;
    const staged = [...messages.values()];
    const seen = seenMessages(staged, this.dedupWindowMs);
    await c.run('BEGIN TRANSACTION');
    try {
      await c.run('DELETE FROM staged_messages');
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
      throw e;
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

// ---- batch checks ----

interface StagedMessage {
  readonly id: MessageId;
  readonly deviceId: string;
  readonly receivedAt: number;
  readonly status: 'accepted' | 'rejected';
  /** Earliest device time of its points: a redelivery of the same payload has the same. */
  readonly deviceTime: number | null;
}

/** One entry per message id: a message listed twice in a batch is stored once. */
function uniqueMessages(batch: IngestBatch): Map<MessageId, StagedMessage> {
  const rejected = new Set(batch.rejections.map((r) => r.messageId));
  const earliest = new Map<MessageId, number>();
  for (const p of batch.points) earliest.set(p.messageId, Math.min(p.deviceTime, earliest.get(p.messageId) ?? Infinity));
  const out = new Map<MessageId, StagedMessage>();
  for (const m of batch.messages) {
    if (out.has(m.id)) continue;
    const isRejected = rejected.has(m.id);
    const first = earliest.get(m.id);
    // Whole ms like the column; a fractional time fails later, in the point appender.
    const deviceTime = isRejected || first === undefined ? null : Math.floor(first);
    out.set(m.id, { id: m.id, deviceId: m.deviceId, receivedAt: m.receivedAt, status: isRejected ? 'rejected' : 'accepted', deviceTime });
  }
  return out;
}

/**
 * The stored messages a batch's ids can repeat: those received within the window before
 * the batch's earliest receive time (a journal redelivery keeps its receive time, a
 * device's resend is newer), and those whose earliest device time falls in one of the
 * batch's device-time ranges (a resent payload carries the same device times). Both
 * are constant bounds on columns that grow with receive order, so DuckDB's zone maps
 * skip every other row group: the cost follows the window, not the history.
 */
function seenMessages(staged: readonly StagedMessage[], windowMs: number): { sql: string; params: Params } {
  const params = new Params();
  const from = Math.min(...staged.map((m) => m.receivedAt)) - windowMs;
  const parts = [`SELECT id FROM messages WHERE received_at >= ${params.add(msBound(from), BIGINT)}`];
  for (const [lo, hi] of deviceTimeRanges(staged)) {
    parts.push(`SELECT id FROM messages WHERE device_time BETWEEN ${params.add(msBound(lo), BIGINT)} AND ${params.add(Math.floor(hi), BIGINT)}`);
  }
  return { sql: parts.join(' UNION ALL '), params };
}

/** The batch's device times as few [lo, hi] ranges: live data is one, a device catching up another. */
function deviceTimeRanges(staged: readonly StagedMessage[]): [number, number][] {
  const times = staged.flatMap((m) => (m.deviceTime === null ? [] : [m.deviceTime])).sort((a, b) => a - b);
  const ranges: [number, number][] = [];
  for (const t of times) {
    const last = ranges.at(-1);
    if (last && t - last[1] <= DEVICE_TIME_GAP_MS) last[1] = t;
    else ranges.push([t, t]);
  }
  if (ranges.length <= MAX_DEVICE_TIME_RANGES) return ranges;
  return [[ranges[0]![0], ranges.at(-1)![1]]];
}

/** Rewrites a keyed `messages` table of an older file without its key (MIGRATE_KEYED_MESSAGES). */
async function migrateKeyedMessages(c: DuckDBConnection): Promise<void> {
  const keyed = await c.runAndReadAll(`SELECT count(*) FROM duckdb_constraints() WHERE table_name = 'messages' AND constraint_type = 'PRIMARY KEY'`);
  if (asNumber(keyed.getRows()[0]?.[0]) === 0) return;
  await c.run('BEGIN TRANSACTION');
  try {
    for (const sql of MIGRATE_KEYED_MESSAGES) await c.run(sql);
    await c.run('COMMIT');
  } catch (e) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw e;
  }
  await c.run('CHECKPOINT'); // hand the old index's blocks back now, not at the next automatic checkpoint
}

/** A file made before `point_ranges` gets it filled from its points, once, when opened. */
async function migratePointRanges(c: DuckDBConnection): Promise<void> {
  if (await hasPointRanges(c)) return;
  await c.run('BEGIN TRANSACTION');
  try {
    await c.run(POINT_RANGES_DDL);
    await rebuildPointRanges(c);
    await c.run('COMMIT');
  } catch (e) {
    await c.run('ROLLBACK').catch(() => undefined);
    throw e;
  }
}

/**
 * A point or rejection must belong to a message of the same batch; otherwise nothing
 * would record it for exactly-once, and a redelivery would store it again. Such a
 * batch is a caller bug: it is refused whole, before anything is written.
 */
function assertConsistent(batch: IngestBatch, messages: ReadonlyMap<MessageId, StagedMessage>): void {
  const orphan = batch.points.find((p) => !messages.has(p.messageId)) ?? batch.rejections.find((r) => !messages.has(r.messageId));
  if (orphan) {
    throw new Error(`batch refused: message ${orphan.messageId} has data but is not listed in batch.messages`);
  }
}

/**
 * The items of newly stored messages, first occurrence per key. A message redelivered
 * inside the same batch brings its points (key: message and seq) and its rejection (one
 * per message) a second time; only one copy is stored.
 */
function firstOf<T extends { readonly messageId: MessageId }>(items: readonly T[], fresh: ReadonlySet<MessageId>, key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    if (!fresh.has(item.messageId)) return false;
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

// ---- appenders ----

/** Rows appended between two turns of the event loop (a few milliseconds of work). */
const APPEND_SLICE = 512;
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function appendAll<T>(c: DuckDBConnection, table: string, rows: readonly T[], appendRow: (a: DuckDBAppender, row: T) => void): Promise<void> {
  if (rows.length === 0) return;
  const appender = await c.createAppender(table);
  try {
    for (let i = 0; i < rows.length; i++) {
      appendRow(appender, rows[i]!);
      appender.endRow();
      // Appending is synchronous: let the event loop (PUBACKs, the API) run now and then.
      if (i % APPEND_SLICE === APPEND_SLICE - 1) await yieldToLoop();
    }
    // Flushing inside the open transaction: a later ROLLBACK discards these rows too.
    appender.flushSync();
  } catch (e) {
    appender.clear(); // drop a half-appended row so closing does not try to flush it
    throw e;
  } finally {
    appender.closeSync();
  }
}

function appendStagedMessage(a: DuckDBAppender, m: StagedMessage): void {
  a.appendUBigInt(m.id);
  a.appendVarchar(m.deviceId);
  a.appendBigInt(BigInt(m.receivedAt));
  a.appendVarchar(m.status);
  if (m.deviceTime === null) a.appendNull();
  else a.appendBigInt(BigInt(m.deviceTime));
}

function appendPoint(a: DuckDBAppender, p: Point): void {
  a.appendUBigInt(p.messageId);
  a.appendInteger(p.seq);
  a.appendVarchar(p.kind);
  a.appendVarchar(p.deviceId);
  a.appendVarchar(p.profileId);
  a.appendVarchar(p.family);
  appendNullableVarchar(a, p.siteId);
  appendNullableVarchar(a, p.roomId);
  appendNullableVarchar(a, p.trialId);
  appendNullableVarchar(a, p.participantId);
  a.appendVarchar(p.name);
  if (p.kind === 'reading') {
    a.appendDouble(p.value);
    a.appendVarchar(p.unit);
    a.appendNull(); // alert_code
    a.appendNull(); // dispense_code
    a.appendNull(); // severity
    // Fields a profile keeps (`unmapped: keep`); most readings have none.
    if (p.attributes) a.appendVarchar(JSON.stringify(p.attributes));
    else a.appendNull();
  } else {
    a.appendNull(); // value
    a.appendNull(); // unit
    appendNullableVarchar(a, p.alertCode);
    appendNullableVarchar(a, p.dispenseCode);
    a.appendInteger(p.severity);
    a.appendVarchar(JSON.stringify(p.attributes));
  }
  a.appendBigInt(BigInt(p.deviceTime)); // BigInt() throws on a fractional time: the batch rolls back
  a.appendBigInt(BigInt(p.receivedAt));
  a.appendBoolean(p.clockSkewed);
  appendNullableVarchar(a, p.profileVersion ?? null);
}

function appendRejection(a: DuckDBAppender, r: Rejection): void {
  a.appendUBigInt(r.messageId);
  a.appendVarchar(r.deviceId);
  appendNullableVarchar(a, r.profileId);
  a.appendVarchar(r.topic);
  a.appendVarchar(r.code);
  a.appendVarchar(r.path);
  a.appendVarchar(r.message);
  appendNullableVarchar(a, r.payload);
  a.appendBigInt(BigInt(r.receivedAt));
  // `?? null`: journal lines written before rejections were attributed lack these fields.
  appendNullableVarchar(a, r.siteId ?? null);
  appendNullableVarchar(a, r.roomId ?? null);
  appendNullableVarchar(a, r.trialId ?? null);
  appendNullableVarchar(a, r.participantId ?? null);
}

function appendNullableVarchar(a: DuckDBAppender, v: string | null): void {
  if (v === null) a.appendNull();
  else a.appendVarchar(v);
}

// ---- query building: every user value is a bound parameter ----

class Params {
  readonly values: DuckDBValue[] = [];
  readonly types: DuckDBType[] = [];

  /** Binds a value and returns its placeholder. */
  add(value: DuckDBValue, type: DuckDBType): string {
    this.values.push(value);
    this.types.push(type);
    return `$${this.values.length}`;
  }

  /** `column IN (...)`; an empty list matches nothing (it is a filter, not "no filter"). */
  inList(column: string, values: readonly string[]): string {
    if (values.length === 0) return 'FALSE';
    return `${column} IN (${values.map((v) => this.add(v, VARCHAR)).join(', ')})`;
  }
}

/**
 * Integer ms bound for "column >= t" / "column < t" on an integer column: both are
 * unchanged by rounding t up, which also keeps the bound an integer for BIGINT binding.
 */
const msBound = (t: number): number => Math.ceil(t);

function timeRange(column: string, from: number | undefined, to: number | undefined, params: Params): string[] {
  const out: string[] = [];
  if (from !== undefined) out.push(`${column} >= ${params.add(msBound(from), BIGINT)}`);
  if (to !== undefined) out.push(`${column} < ${params.add(msBound(to), BIGINT)}`);
  return out;
}

/** `<points> p WHERE ...` for a PointQuery: the released rows, then the other filters. */
function pointsFrom(q: PointQuery, params: Params): string {
  const source = q.release ? releasedPoints(q.release, params) : 'points';
  const where: string[] = ['TRUE'];
  if (q.deviceIds) where.push(params.inList('p.device_id', q.deviceIds));
  if (q.names) where.push(params.inList('p.name', q.names));
  if (q.trialId !== undefined) where.push(`p.trial_id = ${params.add(q.trialId, VARCHAR)}`);
  if (q.family !== undefined) where.push(`p.family = ${params.add(q.family, VARCHAR)}`);
  if (q.kind !== undefined) where.push(`p.kind = ${params.add(q.kind, VARCHAR)}`);
  where.push(...timeRange('p.device_time', q.from, q.to, params));
  return `${source} p WHERE ${where.join(' AND ')}`;
}

/**
 * Consent: an attributed point is released only inside one of its participant's windows
 * [from, to); device data (no participant) only when includeDeviceData. The windows are
 * a VALUES list of bound parameters, matched with a SEMI JOIN: a point inside two
 * overlapping windows still comes back once, and the join is a hash join (a correlated
 * EXISTS measured 10x slower on a million points).
 */
function releasedPoints(release: NonNullable<PointQuery['release']>, params: Params): string {
  const parts: string[] = [];
  if (release.windows.length > 0) {
    const rows = release.windows.map(
      (w) => `(${params.add(w.participantId, VARCHAR)}, ${params.add(msBound(w.from), BIGINT)}, ${params.add(msBound(w.to), BIGINT)})`,
    );
    parts.push(`SELECT pt.* FROM points pt SEMI JOIN (VALUES ${rows.join(', ')}) AS w(participant_id, from_ms, to_ms)
      ON w.participant_id = pt.participant_id AND pt.device_time >= w.from_ms AND pt.device_time < w.to_ms`);
  }
  if (release.includeDeviceData) parts.push('SELECT * FROM points WHERE participant_id IS NULL');
  if (parts.length === 0) return '(SELECT * FROM points WHERE FALSE)';
  return `(${parts.join(' UNION ALL ')})`;
}

function rejectionFilters(q: RejectionQuery, params: Params): string {
  const where: string[] = ['TRUE'];
  if (q.deviceIds) where.push(params.inList('device_id', q.deviceIds));
  where.push(...timeRange('received_at', q.from, q.to, params));
  return where.join(' AND ');
}

function limitClause(limit: number | undefined, params: Params): string {
  if (limit === undefined) return '';
  return ` LIMIT ${params.add(assertLimit(limit), BIGINT)}`;
}

function assertLimit(limit: number): number {
  if (!Number.isSafeInteger(limit) || limit < 0) throw new HubError('VALIDATION_FAILED', 'limit must be a non-negative integer');
  return limit;
}

// ---- rows back to domain objects ----

/** Reads one row of a chunk selected with POINT_COLUMNS. */
function pointAt(columns: readonly DuckDBVector[], row: number): Point {
  const cell = (column: number): DuckDBValue | undefined => columns[column]?.getItem(row);
  const base = {
    messageId: asBigInt(cell(0)),
    seq: asNumber(cell(1)),
    deviceId: asString(cell(3)),
    profileId: asString(cell(4)),
    family: asString(cell(5)) as Family,
    siteId: asNullableString(cell(6)),
    roomId: asNullableString(cell(7)),
    trialId: asNullableString(cell(8)),
    participantId: asNullableString(cell(9)),
    name: asString(cell(10)),
    deviceTime: asNumber(cell(17)),
    receivedAt: asNumber(cell(18)),
    clockSkewed: cell(19) === true,
    profileVersion: asNullableString(cell(20)) ?? undefined,
  };
  if (cell(2) === 'reading') {
    const kept = asNullableString(cell(16));
    const reading: Reading = {
      kind: 'reading',
      ...base,
      value: asNumber(cell(11)),
      unit: asString(cell(12)),
      ...(kept === null ? {} : { attributes: JSON.parse(kept) as Reading['attributes'] }),
    };
    return reading;
  }
  const attributes = asNullableString(cell(16));
  const event: HubEvent = {
    kind: 'event',
    ...base,
    alertCode: asNullableString(cell(13)),
    dispenseCode: asNullableString(cell(14)),
    severity: asNumber(cell(15)) as Severity,
    attributes: attributes === null ? {} : (JSON.parse(attributes) as HubEvent['attributes']),
  };
  return event;
}

/** Reads one row selected with REJECTION_COLUMNS. */
function rejectionFromRow(r: readonly DuckDBValue[]): Rejection {
  return {
    messageId: asBigInt(r[0]),
    deviceId: asString(r[1]),
    profileId: asNullableString(r[2]),
    topic: asString(r[3]),
    code: asString(r[4]) as RejectionCode,
    path: asString(r[5]),
    message: asString(r[6]),
    payload: asNullableString(r[7]),
    receivedAt: asNumber(r[8]),
    siteId: asNullableString(r[9]),
    roomId: asNullableString(r[10]),
    trialId: asNullableString(r[11]),
    participantId: asNullableString(r[12]),
  };
}

function asString(v: DuckDBValue | undefined): string {
  if (typeof v !== 'string') throw new TypeError(`expected a string column, got ${typeof v}`);
  return v;
}

function asNullableString(v: DuckDBValue | undefined): string | null {
  return v === null ? null : asString(v);
}

/** BIGINT/UBIGINT arrive as bigint, INTEGER/DOUBLE as number; the domain wants numbers. */
function asNumber(v: DuckDBValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new TypeError(`expected a numeric column, got ${v === null ? 'null' : typeof v}`);
}

function asBigInt(v: DuckDBValue | undefined): bigint {
  if (typeof v !== 'bigint') throw new TypeError(`expected a bigint column, got ${typeof v}`);
  return v;
}
