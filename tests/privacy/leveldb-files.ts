import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { filesUnder } from '../helpers/file-search.js';
import { unsnappy } from './influx-files.js';

/**
 * A LevelDB folder (the split broker's session store) as a forensic search sees it: each
 * file's bytes, and for a table file (`*.ldb`, `*.sst`) also its blocks decompressed,
 * since LevelDB stores a block snappy-compressed whenever that saves an eighth of it, and
 * a repeated string is then a back-reference rather than its bytes. The log (`*.log`) is
 * written uncompressed. Table layout (leveldb doc/table_format.md): a 48-byte footer
 * ending in the magic number holds the index block's handle; the index block's values
 * are the data blocks' handles; each block is followed by one byte of compression type
 * (1: snappy) and four of CRC.
 */
export function levelDbFilesHolding(dir: string, needle: string | Buffer): string[] {
  const wanted = typeof needle === 'string' ? Buffer.from(needle) : needle;
  return filesUnder(dir)
    .filter((path) => {
      const raw = readFileSync(path);
      const blocks = /\.(ldb|sst)$/.test(path) ? tableBlocks(raw) : [];
      return [raw, ...blocks].some((b) => b.includes(wanted));
    })
    .map((path) => relative(dir, path));
}

const FOOTER_BYTES = 48;

function tableBlocks(file: Buffer): Buffer[] {
  if (file.length < FOOTER_BYTES) return [];
  const footer = new Reader(file.subarray(file.length - FOOTER_BYTES));
  footer.handle(); // the metaindex block: filter names only
  const index = block(file, footer.handle());
  return [index, ...blockValues(index).map((value) => block(file, new Reader(value).handle()))];
}

function block(file: Buffer, { offset, size }: { offset: number; size: number }): Buffer {
  const contents = file.subarray(offset, offset + size);
  return file[offset + size] === 1 ? unsnappy(contents) : contents;
}

/** The values of a block's entries: each entry is three varints (shared key bytes, unshared key bytes, value bytes), the unshared key, the value; a restart array and its length end the block. */
function blockValues(b: Buffer): Buffer[] {
  const restarts = b.readUInt32LE(b.length - 4);
  const end = b.length - 4 - 4 * restarts;
  const r = new Reader(b);
  const values: Buffer[] = [];
  while (r.at < end) {
    r.varint();
    const unshared = r.varint();
    const length = r.varint();
    r.at += unshared;
    values.push(b.subarray(r.at, r.at + length));
    r.at += length;
  }
  return values;
}

class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  varint(): number {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = this.b[this.at++]!;
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  }
  handle(): { offset: number; size: number } {
    return { offset: this.varint(), size: this.varint() };
  }
}
