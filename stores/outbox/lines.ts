/** The journal's line format: one batch per line, read back exactly as written. */
import type { IngestBatch, Point, Rejection } from '../../kernel/telemetry.js';

const FORMAT = 1;

/** One batch per line; message ids (64-bit) as decimal strings. */
export function encode(batch: IngestBatch): string {
  // Copies with the ids as strings: JSON.stringify without a replacer function takes its
  // fast path, which more than pays for the copies.
  return JSON.stringify({
    v: FORMAT,
    messages: batch.messages.map((m) => ({ ...m, id: m.id.toString() })),
    points: batch.points.map((p) => ({ ...p, messageId: p.messageId.toString() })),
    rejections: batch.rejections.map((r) => ({ ...r, messageId: r.messageId.toString() })),
  });
}

/** Several queued batches as one write; ids stay unique per message, so the inner store's exactly-once holds. */
export function merge(batches: readonly IngestBatch[]): IngestBatch {
  if (batches.length === 1) return batches[0]!;
  return {
    messages: batches.flatMap((b) => b.messages),
    points: batches.flatMap((b) => b.points),
    rejections: batches.flatMap((b) => b.rejections),
  };
}

/**
 * A dead-letter entry without the points and rejections of one participant (erasure) or
 * one trial (retention); undefined when it cannot be read, or holds nothing else.
 */
export function without(entryLine: string, id: string, key: 'participantId' | 'trialId'): string | undefined {
  try {
    const entry = JSON.parse(entryLine) as { batch: string };
    const batch = decode(entry.batch);
    const points = batch.points.filter((p) => p[key] !== id);
    const rejections = batch.rejections.filter((r) => r[key] !== id);
    const ids = new Set([...points, ...rejections].map((x) => x.messageId));
    const kept = { messages: batch.messages.filter((m) => ids.has(m.id)), points, rejections };
    if (kept.messages.length === 0) return undefined;
    const line = encode(kept);
    // Their id as a whole string value elsewhere (never by design, say in an attribute): the entry goes whole.
    return line.includes(JSON.stringify(id)) ? undefined : JSON.stringify({ ...entry, batch: line });
  } catch {
    return undefined;
  }
}

export function decode(line: string): IngestBatch {
  const raw = JSON.parse(line) as { v: number } & Record<'messages' | 'points' | 'rejections', Record<string, unknown>[]>;
  if (raw.v !== FORMAT) throw new Error(`unknown outbox line format ${String(raw.v)}`);
  return {
    messages: raw.messages.map((m) => ({ ...m, id: BigInt(m.id as string) })) as unknown as IngestBatch['messages'],
    points: raw.points.map((p) => ({ ...p, messageId: BigInt(p.messageId as string) })) as unknown as Point[],
    rejections: raw.rejections.map((r) => ({ ...r, messageId: BigInt(r.messageId as string) })) as unknown as Rejection[],
  };
}
