import { HttpError, InfluxDB, type Point as Line, type WriteApi } from '@influxdata/influxdb-client';
import { HubError, isHubError } from '../../kernel/errors.js';
import type { Logger } from '../../kernel/log.js';
import type { Bucket, BucketQuery, PointQuery, RejectionCount, RejectionQuery, TelemetryStore } from '../../kernel/ports.js';
import {
  assertBatchConsistent,
  assertWholeMilliseconds,
  erasedRejection,
  type IngestBatch,
  type MessageId,
  type Point,
  type Rejection,
  type RejectionCode,
  type WriteResult,
} from '../../kernel/telemetry.js';
import { MAX_NS, anyOf, ident, str, timeRange } from './influxql.js';
import { foreignTags, participantTags, type ParticipantTags } from './participant-tag.js';
import { QueryClient, type Row } from './query-client.js';
import { releaseSegments, type Segment } from './release.js';
import { canRebuildShards, keepAllBut, ShardRebuilds } from './shard-rebuild.js';
import {
  SlotTable,
  messageLine,
  messageTags,
  num,
  pointFromRow,
  pointLine,
  pointTags,
  preferredSlot,
  rejectionFromRow,
  rejectionLine,
  rejectionTags,
  selectList,
  seriesKey,
  who,
  type Measurement,
  type PointMeasurement,
} from './schema.js';

/**
 * TelemetryStore on InfluxDB: writes through the v2 write API (/api/v2/write, via
 * @influxdata/influxdb-client), reads with InfluxQL over the v1-compatible /query
 * endpoint. Schema, exactly-once and limits: README.md next to this file.
 */
export interface InfluxStoreOptions {
  readonly url: string;
  readonly token: string;
  readonly org: string;
  readonly bucket: string;
  /** Database (and retention policy) that /query reads; on 2.x the DBRP mapping of the bucket. */
  readonly database: string;
  readonly retentionPolicy?: string;
  /** Per HTTP request. */
  readonly timeoutMs?: number;
  /** Rows per /query page while streaming points. */
  readonly pageSize?: number;
  /** How far back a redelivered *rejected* message is looked for (its receive time moves). */
  readonly redeliveryWindowMs?: number;
  /**
   * Key of the participant tag (participant-tag.ts): the tag holds the id encrypted under
   * it, so InfluxDB's files never hold a participant id. Every process that reads or
   * writes the database must use the same key (service/adapters.ts keeps it in the registry).
   */
  readonly participantKey: Buffer;
  /** How long an erasure's shard rebuild holds its lease between renewals (shard-rebuild.ts). */
  readonly rebuildLeaseMs?: number;
  /**
   * Which of these participants are erased (the registry's `erasedAt`). Where another
   * process erases (the split layout's API while ingest writes), each write asks just
   * before it sends, and again before a fenced rewrite: an erased participant's points are
   * not written and their rejections are written as erasure leaves them (README.md, "Erasure").
   */
  readonly erasedAmong?: (ids: readonly string[]) => Promise<ReadonlySet<string>>;
  /** Told how many points a write withheld (never whose). */
  readonly logger?: Logger;
}

export const LINES_PER_REQUEST = 5_000;

/**
 * A write API with no client-side retries or timed flushes: one write = requests the
 * caller awaits, and a failure surfaces to it (the outbox retries). writeFailed returning
 * the rejection makes flush() reject with it instead of the client logging it.
 */
export function awaitedWriteApi(o: { url: string; token: string; org: string; bucket: string }, timeoutMs: number): WriteApi {
  return new InfluxDB({ url: o.url, token: o.token, timeout: timeoutMs }).getWriteApi(o.org, o.bucket, 'ns', {
    batchSize: LINES_PER_REQUEST + 1,
    maxBatchBytes: Number.MAX_SAFE_INTEGER,
    flushInterval: 0,
    maxRetries: 0,
    writeFailed: (error) => Promise.reject(error),
  });
}
/** Lookup windows closer than this share one statement (InfluxQL cannot OR time ranges). */
const CLUSTER_GAP_MS = 60_000;
/** Terms per OR list, so no statement grows without bound. */
const OR_CHUNK = 200;
const DEFAULT_REJECTION_LIMIT = 100;
/** Device times must fit InfluxDB's int64 nanoseconds. */
const MAX_MS = Number(MAX_NS / 1_000_000n) - 1;

export async function openInfluxTelemetryStore(opts: InfluxStoreOptions): Promise<TelemetryStore> {
  for (const k of ['url', 'org', 'bucket', 'database'] as const) {
    if (!opts[k]) throw new HubError('CONFIG_INVALID', `InfluxDB ${k} is required`);
  }
  participantTags(opts.participantKey); // throws on a short key before anything starts
  new URL(opts.url); // throws on a malformed URL before anything starts
  // Opening does not contact the server: a hub may start while InfluxDB is still down
  // (the outbox, stores/outbox/outbox.ts, queues meanwhile). ping() checks reachability.
  return new InfluxTelemetryStore(opts);
}

type MessageEntry = IngestBatch['messages'][number];

/** One line of a write, and what is written instead once its participant is erased (nothing for a point). */
interface DataLine {
  readonly participantId: string | null;
  readonly line: Line;
  readonly erased?: Line;
}

class InfluxTelemetryStore implements TelemetryStore {
  readonly #q: QueryClient;
  readonly #writeApi: WriteApi;
  readonly #pageSize: number;
  readonly #redeliveryWindowMs: number;
  readonly #tags: ParticipantTags;
  readonly #leaseApi: WriteApi;
  readonly #rebuilds: ShardRebuilds;
  readonly #erasedAmong: InfluxStoreOptions['erasedAmong'];
  readonly #logger: Logger | undefined;
  #server: Promise<{ readonly rebuilds: boolean }> | undefined;
  #queue: Promise<void> = Promise.resolve();
  #closing: Promise<void> | undefined;

  constructor(o: InfluxStoreOptions) {
    const timeoutMs = o.timeoutMs ?? 10_000;
    this.#q = new QueryClient({ url: o.url, token: o.token, database: o.database, retentionPolicy: o.retentionPolicy, timeoutMs });
    this.#writeApi = awaitedWriteApi(o, timeoutMs);
    this.#pageSize = Math.max(2, o.pageSize ?? 5_000);
    this.#redeliveryWindowMs = o.redeliveryWindowMs ?? 7 * 86_400_000;
    this.#tags = participantTags(o.participantKey);
    this.#leaseApi = awaitedWriteApi(o, timeoutMs);
    this.#erasedAmong = o.erasedAmong;
    this.#logger = o.logger;
    this.#rebuilds = new ShardRebuilds({
      q: this.#q,
      database: o.database,
      retentionPolicy: o.retentionPolicy,
      leaseMs: o.rebuildLeaseMs,
      send: (lines) => this.#sendWith(this.#leaseApi, lines),
    });
  }

  /**
   * What the server allows, asked once before the first use (and again after a failed
   * try): whether shards can be rebuilt (1.x: /ping's X-Influxdb-Version), and that every
   * participant tag in the database is one this key wrote, so that plain ids from before
   * tags were encrypted, or another key's tags, are never silently mixed with ours.
   */
  #ready(): Promise<{ readonly rebuilds: boolean }> {
    this.#server ??= (async () => {
      // One statement per measurement: the form Grafana's own template variables use on 1.x and 2.x alike.
      const found = await this.#q.run(['reading', 'event', 'rejection'].map((m) => `SHOW TAG VALUES FROM ${ident(m)} WITH KEY = ${ident('participant')}`));
      const foreign = [...new Set(found.flat().map((r) => String(r.value)))].filter((t) => this.#tags.tryDecode(t) === undefined);
      if (foreign.length > 0) throw foreignTags(foreign);
      return { rebuilds: await canRebuildShards(this.#q) };
    })();
    this.#server.catch(() => void (this.#server = undefined));
    return this.#server;
  }

  // ---- writing ----

  write(batch: IngestBatch): Promise<WriteResult> {
    return this.#serialised(() => this.#writeBatch(batch));
  }

  async #writeBatch(batch: IngestBatch): Promise<WriteResult> {
    assertBatchConsistent(batch);
    assertWholeMilliseconds(batch, MAX_MS);
    const messages = uniqueMessages(batch);
    if (messages.size === 0) return { storedMessages: 0, duplicateMessages: 0 };
    const server = await this.#ready();

    const anchors = anchorsOf(batch, messages);
    const markerSlots = new SlotTable();
    const stored = await this.#storedMessages(messages, anchors, markerSlots);
    const fresh = [...messages.values()].filter((m) => !stored.has(m.id));
    const result = { storedMessages: fresh.length, duplicateMessages: batch.messages.length - fresh.length };
    if (fresh.length === 0) return result;

    const freshIds = new Set(fresh.map((m) => m.id));
    const points = uniquePoints(batch.points.filter((p) => freshIds.has(p.messageId)));
    const rejections = numberRejections(batch.rejections.filter((r) => freshIds.has(r.messageId)));
    const slots = await this.#occupiedSlots(
      points,
      rejections.map(([r]) => r),
    );

    // Data first, message markers last: a crash in between leaves no marker, so the
    // redelivery writes the same points into the same slots again (an overwrite).
    const tags = this.#tags;
    // Each slot is claimed once, so a rejection's erased form is built now beside it.
    const data = lines<DataLine>(() => [
      ...points.map((p) => ({
        participantId: p.participantId,
        line: pointLine(p, slots.claim(seriesKey(p.kind, pointTags(p, tags)), p.deviceTime, who(p.messageId, p.seq), preferredSlot(p.messageId, p.seq)), tags),
      })),
      ...rejections.map(([r, seq]) => ({
        participantId: r.participantId,
        line: this.#rejectionLine(r, seq, slots),
        ...(r.participantId === null ? {} : { erased: this.#rejectionLine(erasedRejection(r), seq, slots) }),
      })),
    ]);
    const markers = lines(() =>
      fresh.map((m) => {
        const { ms, status } = anchors.get(m.id)!;
        const slot = markerSlots.claim(seriesKey('message', messageTags(m.deviceId, status)), ms, who(m.id, 0), preferredSlot(m.id, 0));
        return messageLine(m, status, ms, slot);
      }),
    );
    // Markers are written whatever was withheld (a redelivery stays a duplicate), and last:
    // a write that could not undo what it wrote of an erased participant is delivered again.
    const store = async (): Promise<void> => {
      const { lines, sentFor, withheldFor } = await this.#withoutErased(data);
      await this.#send(lines);
      await this.#undoErased(sentFor, withheldFor);
      await this.#send(markers);
    };
    // Where an erasure may rebuild shards (1.x), possibly from another process: written
    // again if a rebuild overlapped the write (shard-rebuild.ts).
    await (server.rebuilds ? this.#rebuilds.fenced(store) : store());
    return result;
  }

  /**
   * The lines to send now: none of an erased participant's points, their rejections as
   * erasure leaves them; and whose lines are sent, whose withheld.
   */
  async #withoutErased(data: readonly DataLine[]): Promise<{ lines: Line[]; sentFor: string[]; withheldFor: ReadonlySet<string> }> {
    const ids = [...new Set(data.flatMap((d) => (d.participantId === null ? [] : [d.participantId])))];
    const erased = this.#erasedAmong && ids.length > 0 ? await this.#askErased(ids) : new Set<string>();
    const sentFor = ids.filter((id) => !erased.has(id));
    if (erased.size === 0) return { lines: data.map((d) => d.line), sentFor, withheldFor: erased };
    const out: Line[] = [];
    const counts = { points: 0, rejections: 0 };
    for (const d of data) {
      if (d.participantId === null || !erased.has(d.participantId)) out.push(d.line);
      else if (d.erased) {
        out.push(d.erased);
        counts.rejections++;
      } else counts.points++;
    }
    this.#logger?.info(
      { event: 'erased_points_withheld', ...counts },
      "an erased participant's points were not written; their rejections were written without them",
    );
    return { lines: out, sentFor, withheldFor: erased };
  }

  /**
   * The in-flight window: the lines just sent were checked before they went, and an
   * erasure (in another process) may have marked and erased their participant while they
   * were on the wire, landing after its delete. Asked again now that they are stored, an
   * erased participant's rows are erased here as the eraser does (#erase). Whoever was
   * already erased before the send is looked for too: a previous try of this write may
   * have stored their lines and failed before undoing them. Any failure is an outage, so
   * the write is tried again rather than set aside.
   */
  async #undoErased(sentFor: readonly string[], withheldFor: ReadonlySet<string>): Promise<void> {
    if (!this.#erasedAmong) return;
    const late = sentFor.length > 0 ? await this.#askErased(sentFor) : new Set<string>();
    for (const id of new Set([...withheldFor, ...late])) {
      try {
        const rows = await this.#count(this.#filterFor(id).where, ['reading', 'event', 'rejection']);
        if (rows === 0) continue;
        await this.#erase(id);
        this.#logger?.info({ event: 'erased_rows_undone', rows }, "a write landed after its participant's erasure; what it stored of them is erased");
      } catch (e) {
        throw isHubError(e) && e.code === 'STORE_UNAVAILABLE'
          ? e
          : new HubError('STORE_UNAVAILABLE', `cannot erase what a write stored of an erased participant: ${(e as Error).message}`, { cause: e });
      }
    }
  }

  async #askErased(ids: readonly string[]): Promise<ReadonlySet<string>> {
    try {
      return await this.#erasedAmong!(ids);
    } catch (e) {
      // Nothing is written without the answer; the outbox keeps the batch and retries.
      throw isHubError(e) ? e : new HubError('STORE_UNAVAILABLE', `cannot tell which participants are erased: ${(e as Error).message}`, { cause: e });
    }
  }

  /**
   * Which of the batch's messages are already stored. A message with points has its
   * marker at its earliest device time, which a redelivery repeats exactly; a rejected
   * message has it at its receive time, which moves, so that one is looked for over
   * redeliveryWindowMs. Also records the markers' slots for the new markers.
   */
  async #storedMessages(messages: ReadonlyMap<MessageId, MessageEntry>, anchors: ReadonlyMap<MessageId, Anchor>, slots: SlotTable): Promise<Set<MessageId>> {
    const all = [...messages.values()];
    const exact = lookups(
      'message',
      all.map((m) => ({ deviceId: m.deviceId, ms: anchors.get(m.id)!.ms })),
      { lookbackMs: 1 },
    );
    const late = lookups(
      'message',
      all.filter((m) => anchors.get(m.id)?.status === 'rejected').map((m) => ({ deviceId: m.deviceId, ms: m.receivedAt, id: m.id })),
      { lookbackMs: this.#redeliveryWindowMs, where: [`${ident('status')} = ${str('rejected')}`] },
    );
    const results = await this.#q.run([...exact, ...late]);
    const stored = new Set<MessageId>();
    results.forEach((rows, i) => {
      if (i < exact.length) slots.noteRows('message', rows); // every marker near the anchors
      for (const r of rows) {
        const id = BigInt(r.message_id as string);
        if (messages.has(id)) stored.add(id);
      }
    });
    return stored;
  }

  /** The slots already taken around the new points' and rejections' milliseconds. */
  async #occupiedSlots(points: readonly Point[], rejections: readonly Rejection[]): Promise<SlotTable> {
    const probes = (kind: PointMeasurement) => points.filter((p) => p.kind === kind).map((p) => ({ deviceId: p.deviceId, ms: p.deviceTime }));
    const parts: [Measurement, string[]][] = [
      ['reading', lookups('reading', probes('reading'), { lookbackMs: 1 })],
      ['event', lookups('event', probes('event'), { lookbackMs: 1 })],
      [
        'rejection',
        lookups(
          'rejection',
          rejections.map((r) => ({ deviceId: r.deviceId, ms: r.receivedAt })),
          { lookbackMs: 1 },
        ),
      ],
    ];
    const results = await this.#q.run(parts.flatMap(([, s]) => s));
    const slots = new SlotTable();
    let i = 0;
    for (const [m, statements] of parts) for (const _ of statements) slots.noteRows(m, results[i++] ?? []);
    return slots;
  }

  #rejectionLine(r: Rejection, seq: number, slots: SlotTable): Line {
    const slot = slots.claim(seriesKey('rejection', rejectionTags(r, this.#tags)), r.receivedAt, who(r.messageId, seq), preferredSlot(r.messageId, seq));
    return rejectionLine(r, seq, slot, this.#tags);
  }

  #send(data: readonly Line[]): Promise<void> {
    return this.#sendWith(this.#writeApi, data);
  }

  async #sendWith(api: WriteApi, data: readonly Line[]): Promise<void> {
    for (let i = 0; i < data.length; i += LINES_PER_REQUEST) {
      api.writePoints(data.slice(i, i + LINES_PER_REQUEST));
      try {
        await api.flush();
      } catch (e) {
        throw writeError(e);
      }
    }
  }

  eraseParticipant(participantId: string): Promise<number> {
    // '' would match every unattributed point (an absent tag reads as '').
    if (!participantId) return Promise.reject(new HubError('VALIDATION_FAILED', 'participantId must not be empty'));
    return this.#serialised(() => this.#erase(participantId));
  }

  async #erase(participantId: string): Promise<number> {
    const { theirs, where, tag } = this.#filterFor(participantId);
    const server = await this.#ready();
    const points = await this.#count(where, ['reading', 'event']);
    await this.#eraseRejections(where);
    // 1.x: every shard that holds their points is rebuilt without them (shard-rebuild.ts).
    if (server.rebuilds) await this.#rebuilds.rebuild(await this.#rebuilds.shardsHolding(['reading', 'event', 'rejection'], theirs), keepAllBut(tag));
    // InfluxQL DELETE: 1.x, and 2.x's /query since 2.0 (influxdb#19549). After a rebuild it
    // finds nothing; on 2.x it is the erasure (README.md, "Erasure"). Message markers
    // carry no participant and stay, so a redelivery remains a duplicate.
    await this.#q.run(['reading', 'event', 'rejection'].map((m) => `DELETE FROM ${ident(m)} WHERE ${theirs}`));
    return points;
  }

  /** The participant's rows: `theirs` by tag, `where` with the time range a SELECT needs. */
  #filterFor(participantId: string): { theirs: string; where: string; tag: string } {
    const tag = this.#tags.encode(participantId);
    const theirs = `${ident('participant')} = ${str(tag)}`;
    return { theirs, where: `${theirs} AND ${timeRange(undefined, undefined)}`, tag };
  }

  async #count(where: string, measurements: readonly Measurement[]): Promise<number> {
    const counts = await this.#q.run(measurements.map((m) => `SELECT count(${ident('seq')}) FROM ${ident(m)} WHERE ${where}`));
    return counts.flat().reduce((n, r) => n + num(r.count), 0);
  }

  /**
   * The participant's rejections stay counted (promise 2) but lose what is about them:
   * each is written again without the participant tag, payload and message (which may
   * quote the payload), before the DELETE above removes the attributed originals. A
   * point cannot be updated in place: the series (tag set) changes, so the copy takes a
   * free slot of its new series.
   */
  async #eraseRejections(where: string): Promise<void> {
    const [rows = []] = await this.#q.run([`SELECT ${selectList('rejection').map(ident).join(', ')} FROM ${ident('rejection')} WHERE ${where}`]);
    if (rows.length === 0) return;
    const kept = rows.map((row) => ({ r: erasedRejection(rejectionFromRow(row, this.#tags)), seq: num(row.seq) }));
    const slots = await this.#occupiedSlots(
      [],
      kept.map((k) => k.r),
    );
    await this.#send(lines(() => kept.map(({ r, seq }) => this.#rejectionLine(r, seq, slots))));
  }

  // ---- reading ----

  async *points(query: PointQuery): AsyncGenerator<Point> {
    this.#assertOpen();
    const limit = checkLimit(query.limit);
    if (limit === 0 || isEmptyFilter(query)) return;
    const desc = query.order === 'desc';
    await this.#ready();
    const where = pointFilters(query);
    const segments = releaseSegments(query);
    const kinds: PointMeasurement[] = query.kind ? [query.kind] : ['reading', 'event'];
    const page = this.#pageFor(limit);
    const streams = kinds.map((kind) => this.#scan(kind, where, segments, desc, page));
    let n = 0;
    for await (const p of mergeOrdered(streams, desc ? (a, b) => comparePoints(b, a) : comparePoints)) {
      yield p;
      if (++n === limit) return;
    }
  }

  async *#scan(kind: PointMeasurement, where: readonly string[], segments: readonly Segment[], desc: boolean, page: number): AsyncGenerator<Point> {
    for (const s of desc ? [...segments].reverse() : segments) {
      const conds = s.participants ? [...where, this.#anyParticipant(s.participants)] : where;
      for await (const row of this.#ordered(kind, conds, s.from, s.to, desc, page)) yield pointFromRow(kind, row, this.#tags);
    }
  }

  /**
   * Rows of one measurement in [from, to), ordered by time and, inside a millisecond, by
   * message id and seq; fetched a page at a time so memory stays bounded. A page is cut
   * at its last millisecond (which may continue on the next page) and continues from
   * there: a time cursor, not OFFSET, so each page is one index seek.
   */
  async *#ordered(
    m: Measurement,
    where: readonly string[],
    from: number | undefined,
    to: number | undefined,
    desc: boolean,
    page: number,
  ): AsyncGenerator<Row> {
    let lo = from;
    let hi = to;
    for (;;) {
      if (lo !== undefined && hi !== undefined && lo >= hi) return;
      const rows = await this.#select(m, where, lo, hi, desc, page);
      if (rows.length < page) return yield* sortedByMs(rows, desc);
      const edge = num(rows[rows.length - 1]!.time);
      if (num(rows[0]!.time) === edge) {
        // A whole page inside one millisecond: read that millisecond unpaged.
        yield* sortedByMs(await this.#select(m, where, edge, edge + 1, desc, undefined), desc);
        if (desc) hi = edge;
        else lo = edge + 1;
      } else {
        yield* sortedByMs(
          rows.filter((r) => r.time !== edge),
          desc,
        );
        if (desc) hi = edge + 1;
        else lo = edge;
      }
    }
  }

  /** `''` (device data, an absent tag) stays `''`. */
  #anyParticipant(ids: readonly string[]): string {
    return anyOf(
      'participant',
      ids.map((id) => (id === '' ? '' : this.#tags.encode(id))),
    );
  }

  /** A small limit needs no big page: one more row than asked shows where its millisecond ends. */
  #pageFor(limit: number | undefined): number {
    return limit === undefined ? this.#pageSize : Math.max(2, Math.min(this.#pageSize, limit + 1));
  }

  async #select(
    m: Measurement,
    where: readonly string[],
    from: number | undefined,
    to: number | undefined,
    desc: boolean,
    limit: number | undefined,
  ): Promise<Row[]> {
    this.#assertOpen();
    const cond = [...where, timeRange(from, to)].join(' AND ');
    const q = `SELECT ${selectList(m).map(ident).join(', ')} FROM ${ident(m)} WHERE ${cond} ORDER BY time ${desc ? 'DESC' : 'ASC'}${limit ? ` LIMIT ${limit}` : ''}`;
    const [rows = []] = await this.#q.run([q]);
    return rows;
  }

  async aggregate(query: BucketQuery): Promise<Bucket[]> {
    this.#assertOpen();
    if (!Number.isSafeInteger(query.bucketMs) || query.bucketMs <= 0) throw new HubError('VALIDATION_FAILED', 'bucketMs must be a positive integer');
    const limit = checkLimit(query.limit);
    if (query.kind === 'event' || limit === 0 || isEmptyFilter(query)) return []; // readings only
    await this.#ready();
    const where = pointFilters(query);
    const v = ident('value');
    // One statement per release segment; buckets cut by a segment edge are summed back up.
    const statements = releaseSegments(query).map((s) => {
      const conds = [...where, ...(s.participants ? [this.#anyParticipant(s.participants)] : []), timeRange(s.from, s.to)];
      return `SELECT count(${v}) AS "count", min(${v}) AS "min", max(${v}) AS "max", sum(${v}) AS "sum" FROM ${ident('reading')}
        WHERE ${conds.join(' AND ')} GROUP BY time(${query.bucketMs}ms), ${ident('device')}, ${ident('name')} fill(none)`;
    });
    const merged = new Map<string, Omit<Bucket, 'mean'>>();
    for (const r of (await this.#q.run(statements)).flat()) {
      const b = {
        start: num(r.time),
        deviceId: String(r.device),
        name: String(r.name),
        count: num(r.count),
        min: num(r.min),
        max: num(r.max),
        sum: num(r.sum),
      };
      const key = JSON.stringify([b.start, b.deviceId, b.name]);
      const had = merged.get(key);
      merged.set(key, had ? { ...b, count: had.count + b.count, min: Math.min(had.min, b.min), max: Math.max(had.max, b.max), sum: had.sum + b.sum } : b);
    }
    const dir = query.order === 'desc' ? -1 : 1;
    const buckets = [...merged.values()]
      .map((b) => ({ ...b, mean: b.sum / b.count }))
      .sort((a, b) => dir * (a.start - b.start) || cmp(a.deviceId, b.deviceId) || cmp(a.name, b.name));
    return limit === undefined ? buckets : buckets.slice(0, limit);
  }

  async rejections(query: RejectionQuery): Promise<Rejection[]> {
    this.#assertOpen();
    const limit = checkLimit(query.limit) ?? DEFAULT_REJECTION_LIMIT;
    if (limit === 0 || query.deviceIds?.length === 0) return [];
    await this.#ready();
    const where = query.deviceIds ? [anyOf('device', query.deviceIds)] : [];
    const out: Rejection[] = [];
    for await (const row of this.#ordered('rejection', where, checkTime(query.from), checkTime(query.to), true, this.#pageFor(limit))) {
      out.push(rejectionFromRow(row, this.#tags));
      if (out.length === limit) break;
    }
    return out;
  }

  async rejectionCounts(query: RejectionQuery): Promise<RejectionCount[]> {
    this.#assertOpen();
    if (query.deviceIds?.length === 0) return [];
    const conds = [...(query.deviceIds ? [anyOf('device', query.deviceIds)] : []), timeRange(checkTime(query.from), checkTime(query.to))];
    const [rows = []] = await this.#q.run([
      `SELECT count(${ident('seq')}) AS "count" FROM ${ident('rejection')} WHERE ${conds.join(' AND ')} GROUP BY ${ident('device')}, ${ident('code')}`,
    ]);
    return rows
      .map((r) => ({ deviceId: String(r.device), code: String(r.code) as RejectionCode, count: num(r.count) }))
      .sort((a, b) => cmp(a.deviceId, b.deviceId) || cmp(a.code, b.code));
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    await this.#q.ping();
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#queue; // let accepted writes finish rather than cut them off
      this.#writeApi.dispose();
      this.#leaseApi.dispose();
    })();
    return this.#closing;
  }

  #serialised<T>(task: () => Promise<T>): Promise<T> {
    try {
      this.#assertOpen();
    } catch (e) {
      return Promise.reject(e);
    }
    // One writer at a time: the stored-message lookup and the slot choice of a batch
    // must not interleave with another batch's.
    const run = this.#queue.then(task);
    this.#queue = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  #assertOpen(): void {
    if (this.#closing) throw new HubError('STORE_UNAVAILABLE', 'telemetry store is closed');
  }
}

// ---- batch checks ----

interface Anchor {
  readonly ms: number;
  readonly status: 'accepted' | 'rejected';
}

/** One entry per message id: a message listed twice in a batch is stored once. */
function uniqueMessages(batch: IngestBatch): Map<MessageId, MessageEntry> {
  const out = new Map<MessageId, MessageEntry>();
  for (const m of batch.messages) if (!out.has(m.id)) out.set(m.id, m);
  return out;
}

/** Where each message's marker lives: earliest device time of its points, else receive time. */
function anchorsOf(batch: IngestBatch, messages: ReadonlyMap<MessageId, MessageEntry>): Map<MessageId, Anchor> {
  const out = new Map<MessageId, Anchor>();
  for (const p of batch.points) {
    const had = out.get(p.messageId);
    if (!had || p.deviceTime < had.ms) out.set(p.messageId, { ms: p.deviceTime, status: 'accepted' });
  }
  for (const m of messages.values()) if (!out.has(m.id)) out.set(m.id, { ms: m.receivedAt, status: 'rejected' });
  return out;
}

/** The same (message, seq) twice in one batch is one point. */
function uniquePoints(points: readonly Point[]): Point[] {
  const seen = new Set<string>();
  return points.filter((p) => {
    const k = who(p.messageId, p.seq);
    return seen.has(k) ? false : (seen.add(k), true);
  });
}

/** Numbers each message's rejections 0, 1, ... (the seq that keeps them apart). */
function numberRejections(rejections: readonly Rejection[]): [Rejection, number][] {
  const next = new Map<MessageId, number>();
  return rejections.map((r) => {
    const seq = next.get(r.messageId) ?? 0;
    next.set(r.messageId, seq + 1);
    return [r, seq];
  });
}

function lines<T>(build: () => T[]): T[] {
  try {
    return build();
  } catch (e) {
    throw new HubError('VALIDATION_FAILED', `batch refused: ${(e as Error).message}`, { cause: e });
  }
}

interface Probe {
  readonly deviceId: string;
  readonly ms: number;
  /** When given, only rows of these message ids are selected. */
  readonly id?: MessageId;
}

/**
 * SELECT statements for what is stored in [ms - lookbackMs + 1, ms + 1) of each probe's
 * device. As InfluxQL cannot OR time ranges, nearby windows (CLUSTER_GAP_MS) merge into
 * one range per statement; device and id lists are chunked.
 */
function lookups(m: Measurement, probes: readonly Probe[], o: { lookbackMs: number; where?: readonly string[] }): string[] {
  if (probes.length === 0) return [];
  const windows = probes.map((p) => [p.ms - o.lookbackMs + 1, p.ms + 1] as const).sort((a, b) => a[0] - b[0]);
  const ranges: [number, number][] = [];
  for (const [a, b] of windows) {
    const last = ranges[ranges.length - 1];
    if (last && a <= last[1] + CLUSTER_GAP_MS) last[1] = Math.max(last[1], b);
    else ranges.push([a, b]);
  }
  const devices = chunks([...new Set(probes.map((p) => p.deviceId))]);
  const byId = probes.every((p) => p.id !== undefined);
  const ids = byId ? chunks([...new Set(probes.map((p) => String(p.id)))]) : [undefined];
  const cols = selectList(m).map(ident).join(', ');
  return ranges.flatMap(([a, b]) =>
    devices.flatMap((d) =>
      ids.map((i) => {
        const conds = [...(o.where ?? []), anyOf('device', d), ...(i ? [anyOf('message_id', i)] : []), timeRange(a, b)];
        return `SELECT ${cols} FROM ${ident(m)} WHERE ${conds.join(' AND ')}`;
      }),
    ),
  );
}

function chunks<T>(xs: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += OR_CHUNK) out.push(xs.slice(i, i + OR_CHUNK));
  return out;
}

function writeError(e: unknown): HubError {
  // 400 (bad line protocol, field type conflict, partial write), 413 (too large) and 422
  // (outside retention) will fail again: the batch itself is the problem. All else
  // (network, timeouts, 5xx, 401/403/404 of a not yet configured server) may pass later.
  if (e instanceof HttpError && [400, 413, 422].includes(e.statusCode)) {
    return new HubError('VALIDATION_FAILED', `InfluxDB refused the write (${e.statusCode}): ${e.body ?? e.message}`, { cause: e });
  }
  return new HubError('STORE_UNAVAILABLE', `InfluxDB write failed: ${(e as Error).message}`, { cause: e });
}

// ---- query helpers ----

function checkLimit(limit: number | undefined): number | undefined {
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 0)) throw new HubError('VALIDATION_FAILED', 'limit must be a non-negative integer');
  return limit;
}

function checkTime(t: number | undefined): number | undefined {
  if (t !== undefined && !Number.isFinite(t)) throw new HubError('VALIDATION_FAILED', 'from/to must be finite epoch milliseconds');
  return t;
}

/** An empty deviceIds or names list is a filter that matches nothing. */
const isEmptyFilter = (q: PointQuery): boolean => q.deviceIds?.length === 0 || q.names?.length === 0;

function pointFilters(q: PointQuery): string[] {
  checkTime(q.from);
  checkTime(q.to);
  const where: string[] = [];
  if (q.deviceIds) where.push(anyOf('device', q.deviceIds));
  if (q.names) where.push(anyOf('name', q.names));
  if (q.trialId !== undefined) where.push(`${ident('trial')} = ${str(q.trialId)}`);
  if (q.family !== undefined) where.push(`${ident('family')} = ${str(q.family)}`);
  if (checkTime(q.receivedAfter) !== undefined) where.push(`${ident('received_at')} > ${Math.floor(q.receivedAfter!)}`);
  return where;
}

/** Rows arrive in time order; this orders each millisecond's rows by the port's tie-break: message id (unsigned), then seq. */
function* sortedByMs(rows: readonly Row[], desc: boolean): Generator<Row> {
  const dir = desc ? -1 : 1;
  for (let i = 0; i < rows.length; ) {
    let j = i + 1;
    while (j < rows.length && rows[j]!.time === rows[i]!.time) j++;
    if (j - i === 1) yield rows[i]!;
    else {
      const keyed = rows.slice(i, j).map((r) => ({ id: BigInt(r.message_id as string), seq: num(r.seq), r }));
      keyed.sort((a, b) => dir * (cmp(a.id, b.id) || a.seq - b.seq));
      for (const k of keyed) yield k.r;
    }
    i = j;
  }
}

function comparePoints(a: Point, b: Point): number {
  return a.deviceTime - b.deviceTime || cmp(a.messageId, b.messageId) || a.seq - b.seq;
}

function cmp<T extends string | bigint>(a: T, b: T): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Merges already ordered streams; closes them all when the reader stops early. */
async function* mergeOrdered<T>(streams: readonly AsyncGenerator<T>[], order: (a: T, b: T) => number): AsyncGenerator<T> {
  const heads: (IteratorResult<T> | undefined)[] = [];
  try {
    for (const s of streams) heads.push(await s.next());
    for (;;) {
      let best = -1;
      heads.forEach((h, i) => {
        if (h && !h.done && (best < 0 || order(h.value, (heads[best] as IteratorYieldResult<T>).value) < 0)) best = i;
      });
      if (best < 0) return;
      yield (heads[best] as IteratorYieldResult<T>).value;
      heads[best] = await streams[best]!.next();
    }
  } finally {
    await Promise.all(streams.map((s) => s.return(undefined)));
  }
}
