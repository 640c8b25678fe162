import type { Cell, Column } from './columns.js';

export const DATASET_FORMATS = ['csv', 'ndjson', 'parquet'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

export const MEDIA_TYPES: Readonly<Record<DatasetFormat, string>> = {
  // RFC 4180 §3 and RFC 7111: the header parameter says the first line names the columns.
  csv: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
};

/** RFC 4180 §2: a field with a comma, quote, CR or LF is quoted and its quotes doubled; records end in CRLF. */
function csvField(cell: Cell): string {
  if (cell === null) return '';
  const text = typeof cell === 'string' ? cell : String(cell);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export const csvRecord = (cells: readonly Cell[]): string => `${cells.map(csvField).join(',')}\r\n`;

export const csvHeader = (columns: readonly Column[]): string => csvRecord(columns.map((c) => c.name));

/** One JSON object per line (NDJSON); every column is present, null when empty. */
export function ndjsonRecord(columns: readonly Column[], cells: readonly Cell[]): string {
  const o: Record<string, Cell> = {};
  columns.forEach((c, i) => {
    o[c.name] = cells[i] ?? null;
  });
  return `${JSON.stringify(o)}\n`;
}
