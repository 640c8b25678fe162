import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { HubError } from '../kernel/errors.js';

/**
 * A durable FIFO of text entries (one line each) for the FHIR push: what append()
 * returned from survives a crash, and entries come out in the order they went in.
 *
 * Entries are appended to queue-<gen>.ndjson and fsynced before append() returns; the
 * delivered position is cursor.json ({gen, offset}), replaced atomically (written,
 * fsynced, then renamed over the old one) after each delivery. A crash
 * between a delivery and its cursor write delivers that entry again, which the push
 * makes harmless (conditional updates on the resources' identifiers, fhir/bundle.ts).
 * The delivered head is dropped by copying the rest into the next generation's file
 * before the cursor names it, so there is no moment at which the cursor points into
 * the wrong file. A torn last line (a crash in the middle of an append, before it
 * returned) is cut off at open: it was never acknowledged.
 */
export interface PushQueue {
  /** Appends entries durably, in order; PUSH_QUEUE_FULL (nothing appended) when they would take the queue over its bound. */
  append(entries: readonly string[]): void;
  /** The oldest entry not yet delivered. */
  peek(): string | undefined;
  /** Marks the entry peek() answered as delivered, durably. */
  delivered(): void;
  readonly waiting: number;
  readonly waitingBytes: number;
  close(): void;
}

// Rewrite the file once this much of it is delivered, so a queue never idle still stays near its bound on disk.
const COMPACT_AT_BYTES = 1024 * 1024;

export function openPushQueue(dir: string, maxBytes: number): PushQueue {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const cursorFile = join(dir, 'cursor.json');
  const fileOf = (gen: number): string => join(dir, `queue-${gen}.ndjson`);
  const cursor = existsSync(cursorFile) ? (JSON.parse(readFileSync(cursorFile, 'utf8')) as { gen: number; offset: number }) : { gen: 0, offset: 0 };
  // A generation written by a compaction that crashed before its cursor: its entries are still in the current file.
  for (const name of readdirSync(dir)) if (/^queue-\d+\.ndjson$/.test(name) && name !== `queue-${cursor.gen}.ndjson`) rmSync(join(dir, name));

  const text = existsSync(fileOf(cursor.gen)) ? readFileSync(fileOf(cursor.gen)) : Buffer.alloc(0);
  const whole = text.lastIndexOf(0x0a) + 1;
  const entries = text.subarray(cursor.offset, whole).toString('utf8').split('\n').slice(0, -1);
  // The torn tail was never acknowledged: cut before anything is appended after it.
  if (whole < text.length) truncateSync(fileOf(cursor.gen), whole);
  let fd = openSync(fileOf(cursor.gen), 'a', 0o600);
  let gen = cursor.gen;
  let offset = cursor.offset;
  let waitingBytes = entries.reduce((n, e) => n + Buffer.byteLength(e) + 1, 0);

  const writeCursor = (): void => {
    const tmp = `${cursorFile}.tmp`;
    const c = openSync(tmp, 'w', 0o600);
    writeSync(c, JSON.stringify({ gen, offset }));
    fsyncSync(c);
    closeSync(c);
    renameSync(tmp, cursorFile);
    const d = openSync(dir, 'r');
    fsyncSync(d);
    closeSync(d);
  };

  function compact(): void {
    const next = gen + 1;
    const out = openSync(fileOf(next), 'w', 0o600);
    if (entries.length > 0) writeSync(out, `${entries.join('\n')}\n`);
    fsyncSync(out);
    closeSync(out);
    const old = fileOf(gen);
    closeSync(fd);
    gen = next;
    offset = 0;
    writeCursor();
    rmSync(old);
    fd = openSync(fileOf(gen), 'a', 0o600);
  }

  return {
    append(lines) {
      if (lines.length === 0) return;
      const chunk = `${lines.map((l) => l.replaceAll('\n', ' ')).join('\n')}\n`;
      const bytes = Buffer.byteLength(chunk);
      if (waitingBytes + bytes > maxBytes)
        throw new HubError(
          'PUSH_QUEUE_FULL',
          `${entries.length} entries (${waitingBytes} bytes) wait; ${bytes} more bytes would pass the bound of ${maxBytes}`,
        );
      writeSync(fd, chunk);
      fsyncSync(fd);
      entries.push(...lines.map((l) => l.replaceAll('\n', ' ')));
      waitingBytes += bytes;
    },
    peek: () => entries[0],
    delivered() {
      const head = entries.shift();
      if (head === undefined) return;
      const bytes = Buffer.byteLength(head) + 1;
      offset += bytes;
      waitingBytes -= bytes;
      if (entries.length === 0 || offset >= COMPACT_AT_BYTES) compact();
      else writeCursor();
    },
    get waiting() {
      return entries.length;
    },
    get waitingBytes() {
      return waitingBytes;
    },
    close: () => closeSync(fd),
  };
}
