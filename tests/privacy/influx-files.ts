import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { Point } from '../../kernel/telemetry.js';
import { filesUnder } from '../helpers/file-search.js';

/**
 * influxd's files as a forensic search sees them: each file's bytes, and for a WAL
 * segment (`wal/<db>/<rp>/<shard>/_NNNNN.wal`) also its entries decompressed, since
 * InfluxDB 1.x writes each WAL entry as a snappy block (tsdb/engine/tsm1/wal.go: one byte
 * of type, four of big-endian length, the block), where a repeated string is a
 * back-reference rather than its bytes.
 */
export function readableFiles(dir: string, folders: readonly string[]): { path: string; bytes: Buffer }[] {
  return folders
    .flatMap((f) => filesUnder(join(dir, f)))
    .map((path) => {
      const raw = readFileSync(path);
      return { path: relative(dir, path), bytes: path.endsWith('.wal') ? Buffer.concat([raw, ...walEntries(raw)]) : raw };
    });
}

/** The files of influxd's `folders` under `dir` that hold `needle` (WAL entries decompressed). */
export const influxFilesHolding = (dir: string, folders: readonly string[], needle: string | Buffer): string[] =>
  readableFiles(dir, folders)
    .filter((f) => f.bytes.includes(typeof needle === 'string' ? Buffer.from(needle) : needle))
    .map((f) => f.path);

/** A float as InfluxDB's WAL and TSM files hold it: big-endian. */
export const influxDouble = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleBE(v);
  return b;
};

/** Everything a store returns. */
export async function allPoints(s: TelemetryStore): Promise<Point[]> {
  const out: Point[] = [];
  for await (const p of s.points({})) out.push(p);
  return out;
}

function walEntries(segment: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 5 <= segment.length; ) {
    const length = segment.readUInt32BE(at + 1);
    if (at + 5 + length > segment.length) break; // a torn last entry
    out.push(unsnappy(segment.subarray(at + 5, at + 5 + length)));
    at += 5 + length;
  }
  return out;
}

/** Snappy's block format (google/snappy format_description.txt): a varint length, then literals and back-references. */
export function unsnappy(block: Buffer): Buffer {
  let at = 0;
  let size = 0;
  for (let shift = 0; ; shift += 7) {
    const b = block[at++]!;
    size |= (b & 0x7f) << shift;
    if (b < 0x80) break;
  }
  const out = Buffer.alloc(size);
  let n = 0;
  while (at < block.length && n < size) {
    const tag = block[at++]!;
    if ((tag & 3) === 0) {
      let len = (tag >> 2) + 1;
      if (len > 60) {
        const extra = len - 60;
        len = block.readUIntLE(at, extra) + 1;
        at += extra;
      }
      n += block.copy(out, n, at, at + len);
      at += len;
      continue;
    }
    let len: number;
    let offset: number;
    if ((tag & 3) === 1) {
      len = ((tag >> 2) & 7) + 4;
      offset = ((tag >> 5) << 8) | block[at++]!;
    } else if ((tag & 3) === 2) {
      len = (tag >> 2) + 1;
      offset = block.readUInt16LE(at);
      at += 2;
    } else {
      len = (tag >> 2) + 1;
      offset = block.readUInt32LE(at);
      at += 4;
    }
    for (let i = 0; i < len; i++, n++) out[n] = out[n - offset]!; // may overlap itself: byte by byte
  }
  return out;
}
