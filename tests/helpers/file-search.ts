import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every file under dir that can hold bytes (a socket, such as the hub's control.sock, holds none). */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const path = join(dir, n);
    const st = statSync(path);
    return st.isDirectory() ? filesUnder(path) : st.isFile() ? [path] : [];
  });
}

/** A number as DuckDB and Parquet store a DOUBLE: 8 bytes, little-endian. */
export const asDouble = (v: number): Buffer => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v);
  return b;
};

/** Where each needle occurs among the files under dir: "file: needle", empty when nowhere. */
export function searchFolder(dir: string, needles: Record<string, Buffer>): string[] {
  const found: string[] = [];
  for (const file of filesUnder(dir)) {
    const bytes = readFileSync(file);
    for (const [name, needle] of Object.entries(needles)) if (bytes.includes(needle)) found.push(`${relative(dir, file)}: ${name}`);
  }
  return found;
}
