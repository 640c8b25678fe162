/** Exactly-once without an index: which stored messages a batch's ids can repeat, and which of its items are new. */
import { BIGINT } from '@duckdb/node-api';
import type { IngestBatch, MessageId } from '../../kernel/telemetry.js';
import { msBound, Params } from './query.js';

/**
 * Default dedup window by receive time. A device resends an unacknowledged PUBLISH when
 * it reconnects (MQTT-4.4.0-1), usually within minutes; later resends of accepted
 * messages are still found by their device time. The lookup's cost follows the messages
 * received in this window, not the history.
 */
export const DEFAULT_DEDUP_WINDOW_MS = 3600 * 1000;
/** Device times of one batch further apart than this are looked up as separate ranges. */
export const DEVICE_TIME_GAP_MS = 3600 * 1000;
/** At most this many device-time ranges per lookup; beyond, one range spans them all. */
export const MAX_DEVICE_TIME_RANGES = 16;

export interface StagedMessage {
  readonly id: MessageId;
  readonly deviceId: string;
  readonly receivedAt: number;
  readonly status: 'accepted' | 'rejected';
  /** Earliest device time of its points: a redelivery of the same payload has the same. */
  readonly deviceTime: number | null;
}

/** One entry per message id: a message listed twice in a batch is stored once. */
export function uniqueMessages(batch: IngestBatch): Map<MessageId, StagedMessage> {
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
export function seenMessages(staged: readonly StagedMessage[], windowMs: number): { sql: string; params: Params } {
  const params = new Params();
  const from = Math.min(...staged.map((m) => m.receivedAt)) - windowMs;
  const parts = [`SELECT id FROM messages WHERE received_at >= ${params.add(msBound(from), BIGINT)}`];
  for (const [lo, hi] of deviceTimeRanges(staged)) {
    parts.push(`SELECT id FROM messages WHERE device_time BETWEEN ${params.add(msBound(lo), BIGINT)} AND ${params.add(Math.floor(hi), BIGINT)}`);
  }
  return { sql: parts.join(' UNION ALL '), params };
}

/** The batch's device times as few [lo, hi] ranges: live data is one, a device catching up another. */
export function deviceTimeRanges(staged: readonly StagedMessage[]): [number, number][] {
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

/**
 * The items of newly stored messages, first occurrence per key. A message redelivered
 * inside the same batch brings its points (key: message and seq) and its rejection (one
 * per message) a second time; only one copy is stored.
 */
export function firstOf<T extends { readonly messageId: MessageId }>(items: readonly T[], fresh: ReadonlySet<MessageId>, key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter((item) => {
    if (!fresh.has(item.messageId)) return false;
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
