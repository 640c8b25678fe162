/** The journal's line format: one batch per line, read back exactly as written. */
import { erasedRejection, type IngestBatch, type Point, type Rejection } from '../../kernel/telemetry.js';

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
 * A batch without what erasure (key participantId) or retention (key trialId) removes of
 * `ids`: erasure takes their points and leaves their rejections as it leaves stored ones
 * (counted, nothing of the participant's: erasedRejection), retention takes both. A
 * message left with no data goes, and so does every message whose data still names one
 * of `ids` as a whole string value elsewhere (never by design, say in an attribute).
 * Undefined when no message is left.
 */
export function batchWithout(batch: IngestBatch, ids: ReadonlySet<string>, key: 'participantId' | 'trialId'): IngestBatch | undefined {
  const theirs = belongsTo(ids, key);
  const points = batch.points.filter((p) => !theirs(p));
  const rejections = batch.rejections.flatMap((r) => (!theirs(r) ? [r] : key === 'participantId' ? [erasedRejection(r)] : []));
  const quoted = [...ids].map((id) => JSON.stringify(id));
  const data = new Map<bigint, string[]>();
  for (const x of [...points, ...rejections]) {
    const text = JSON.stringify({ ...x, messageId: undefined });
    data.set(x.messageId, [...(data.get(x.messageId) ?? []), text]);
  }
  const kept = new Set([...data].flatMap(([id, texts]) => (texts.some((t) => quoted.some((q) => t.includes(q))) ? [] : [id])));
  if (kept.size === 0) return undefined;
  return {
    messages: batch.messages.filter((m) => kept.has(m.id)),
    points: points.filter((p) => kept.has(p.messageId)),
    rejections: rejections.filter((r) => kept.has(r.messageId)),
  };
}

/** Whether any point or rejection of the batch is one of `ids`' (a check cheap enough for every append). */
export function holdsAny(batch: IngestBatch, ids: ReadonlySet<string>, key: 'participantId' | 'trialId'): boolean {
  const theirs = belongsTo(ids, key);
  return batch.points.some(theirs) || batch.rejections.some(theirs);
}

const belongsTo =
  (ids: ReadonlySet<string>, key: 'participantId' | 'trialId') =>
  (x: Point | Rejection): boolean =>
    x[key] !== null && ids.has(x[key]);

/** A dead-letter entry (its batch a journal line) after batchWithout; undefined when it cannot be read or nothing is left. */
export function entryWithout(entryLine: string, ids: ReadonlySet<string>, key: 'participantId' | 'trialId'): string | undefined {
  try {
    const entry = JSON.parse(entryLine) as { batch: string };
    const batch = batchWithout(decode(entry.batch), ids, key);
    return batch && JSON.stringify({ ...entry, batch: encode(batch) });
  } catch {
    return undefined;
  }
}

/**
 * Journal lines (each ending in a newline) after batchWithout. A line that names none of
 * `ids` is kept as it is; one that cannot be read goes if it names one anywhere.
 */
export function linesWithout(data: Buffer, ids: ReadonlySet<string>, key: 'participantId' | 'trialId'): Buffer {
  const out: string[] = [];
  for (const line of data.toString('utf8').split('\n')) {
    if (!line) continue;
    if (![...ids].some((id) => line.includes(id))) out.push(line);
    else {
      try {
        const batch = batchWithout(decode(line), ids, key);
        if (batch) out.push(encode(batch));
      } catch {
        // unreadable and naming one of them: goes
      }
    }
  }
  return Buffer.from(out.map((l) => `${l}\n`).join(''));
}

const PARTICIPANT_FIELD = /"participantId":("(?:[^"\\]|\\.)*")/g;

/** The participant ids of the points and rejections in journal lines. */
export function participantIdsIn(text: string): Set<string> {
  const found = new Set<string>();
  for (const m of text.matchAll(PARTICIPANT_FIELD)) {
    try {
      found.add(JSON.parse(m[1]!) as string);
    } catch {
      // a torn fragment names nobody who could be looked up
    }
  }
  return found;
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
