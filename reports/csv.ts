import type { Report } from './compute.js';

/**
 * The report's rows as CSV (RFC 4180, CRLF): one row per indicator × period × week (or
 * month) × subject, the whole-period figures with bucket "total". Subjects and buckets
 * are text whatever they look like (an alert code "1.10"), so they are always quoted:
 * read them as text (pandas dtype=str, R colClasses="character").
 */
export const REPORT_CSV_COLUMNS = [
  'indicator',
  'statistic',
  'period',
  'bucket',
  'subject',
  'value',
  'numerator',
  'denominator',
  'participants',
  'ci_low',
  'ci_high',
  'suppressed',
  'unit',
  'definitions_version',
] as const;

const text = (s: string | null): string => (s === null ? '' : `"${s.replaceAll('"', '""')}"`);
const num = (n: number | null): string => (n === null ? '' : String(n));

export function reportCsv(report: Report): string {
  const units = new Map(report.indicators.map((d) => [d.id, d.unit]));
  const lines = [REPORT_CSV_COLUMNS.join(',')];
  for (const r of report.rows) {
    lines.push(
      [
        text(r.indicator),
        text(r.statistic),
        text(r.period),
        text(r.bucket),
        text(r.subject),
        num(r.value),
        num(r.numerator),
        num(r.denominator),
        String(r.participants),
        num(r.low),
        num(r.high),
        String(r.suppressed),
        text(units.get(r.indicator) ?? ''),
        text(report.definitionsVersion),
      ].join(','),
    );
  }
  return `${lines.join('\r\n')}\r\n`;
}
