import { BIGINT, VARCHAR, type DuckDBConnection, type DuckDBInstance } from '@duckdb/node-api';
import { HubError } from '../../kernel/errors.js';
import type { DatasetColumnSpec, DatasetExporter, DatasetExportRequest, DatasetRowCounts } from '../../kernel/ports.js';
import { withArchives } from './archive.js';
import { Params } from './query.js';
import { appendTempRows } from './rows.js';

/**
 * Trial datasets written by DuckDB itself: one `COPY (SELECT ... ORDER BY ...) TO` selects
 * the released points, orders them and renders every row, so no point crosses into JS.
 * The consent windows and the pseudonyms (a trial has few participants; the HMAC stays
 * in JS) go in as temp tables through appenders; the other filters are bound
 * parameters. Column names, types and the file path are ours, never request input.
 *
 * CSV and NDJSON must be byte for byte what datasets/formats.ts writes from points():
 * each line is built in SQL with JS's rendering of numbers, times and JSON strings, and
 * written by the CSV writer with quoting turned off, so DuckDB adds nothing but the line
 * end. Parquet gets the same schema and values as datasets/export.ts's NDJSON → Parquet.
 */

/** Exports on connections of their own, closed after each export (a connection runs one query at a time). */
export function duckDbDatasetExporter(instance: Pick<DuckDBInstance, 'connect'>): DatasetExporter {
  return {
    async exportTo(request, file) {
      const c = await instance.connect();
      try {
        return await exportDataset(c, request, file);
      } finally {
        c.closeSync();
      }
    },
  };
}

/**
 * Writes the dataset with `c`, which nobody else may use meanwhile. Everything runs in
 * one transaction, so the counts are of the same snapshot as the rows written, however
 * ingest commits meanwhile; it is rolled back at the end (it changed nothing but its
 * temp tables, which go with it).
 */
export async function exportDataset(
  c: DuckDBConnection,
  request: DatasetExportRequest,
  file: string,
  archives: readonly string[] = [],
): Promise<DatasetRowCounts> {
  const params = new Params();
  const points = withArchives(archives);
  const released = releasedPoints(request, points, params);
  // The count binds the row filters' parameters only; the COPY binds those and its own.
  const [filterValues, filterTypes] = [[...params.values], [...params.types]];
  const copy = copyStatement(request, released, params, file);
  await c.run('BEGIN TRANSACTION');
  try {
    await fillTempTables(c, request, points);
    const counted = await c.runAndReadAll(
      `SELECT count(*), count(*) FILTER (p.kind = 'reading'), count(*) FILTER (p.participant_id IS NULL) FROM ${released} p`,
      filterValues,
      filterTypes,
    );
    const [total = 0, readings = 0, deviceData = 0] = (counted.getRows()[0] ?? []).map(Number);
    const copied = await c.run(copy, params.values, params.types);
    if (Number(copied.rowsChanged) !== total) {
      throw new HubError('INTERNAL', `dataset export wrote ${copied.rowsChanged} rows but counted ${total}`);
    }
    return { total, readings, events: total - readings, deviceData };
  } finally {
    // A failed rollback must not hide the export's own error; the connection is closed after anyway.
    await c.run('ROLLBACK').catch(() => undefined);
  }
}

const usesPseudonyms = (request: DatasetExportRequest): boolean => request.columns.some((col) => col.name === 'pseudonym');
const usesAttributes = (request: DatasetExportRequest): boolean => request.columns.some((col) => col.name === 'attributes');

async function fillTempTables(c: DuckDBConnection, request: DatasetExportRequest, points: string): Promise<void> {
  await c.run('CREATE OR REPLACE TEMP TABLE export_windows (participant_id VARCHAR, from_ms BIGINT, to_ms BIGINT)');
  // The key: one pseudonym per participant, so the join can never repeat a row.
  await c.run('CREATE OR REPLACE TEMP TABLE export_pseudonyms (participant_id VARCHAR PRIMARY KEY, pseudonym VARCHAR)');
  const windows = request.query.release.windows;
  await appendTempRows(c, 'export_windows', windows, (a, w) => {
    a.appendVarchar(w.participantId);
    a.appendBigInt(msBound(w.from));
    a.appendBigInt(msBound(w.to));
  });
  if (usesAttributes(request)) {
    await c.run('CREATE OR REPLACE TEMP TABLE export_alarm_refs (alarm_id VARCHAR PRIMARY KEY, ref VARCHAR)');
    // The alarms of the trial asked for (of every trial without one): one reference each.
    const trialId = request.query.trialId;
    const ids = await c.runAndReadAll(
      `SELECT DISTINCT json_extract_string(attributes, '$.alarmId') FROM ${points}
        WHERE device_id = $1 AND json_extract_string(attributes, '$.alarmId') IS NOT NULL${trialId === undefined ? '' : ' AND trial_id = $2'}`,
      trialId === undefined ? [request.alarmEvents.deviceId] : [request.alarmEvents.deviceId, trialId],
      trialId === undefined ? [VARCHAR] : [VARCHAR, VARCHAR],
    );
    await appendTempRows(
      c,
      'export_alarm_refs',
      ids.getRows().map((r) => String(r[0])),
      (a, id) => {
        a.appendVarchar(id);
        a.appendVarchar(request.alarmEvents.ref(id));
      },
    );
  }
  if (!usesPseudonyms(request)) return;
  await appendTempRows(c, 'export_pseudonyms', [...new Set(windows.map((w) => w.participantId))], (a, id) => {
    a.appendVarchar(id);
    a.appendVarchar(request.pseudonym(id));
  });
}

// ---- which rows ----

/**
 * The same rows as the store's points() for the query: a participant's point inside one
 * of their windows [from, to) (a SEMI JOIN, so overlapping windows return it once),
 * device data only when asked for, then the filters.
 */
function releasedPoints(request: DatasetExportRequest, points: string, params: Params): string {
  const q = request.query;
  const parts = [
    `SELECT pt.* FROM ${points} pt SEMI JOIN export_windows w
       ON w.participant_id = pt.participant_id AND pt.device_time >= w.from_ms AND pt.device_time < w.to_ms`,
  ];
  if (q.release.includeDeviceData) parts.push(`SELECT * FROM ${points} WHERE participant_id IS NULL`);
  const where: string[] = ['TRUE'];
  if (q.deviceIds) where.push(params.inList('r.device_id', q.deviceIds));
  if (q.names) where.push(params.inList('r.name', q.names));
  if (q.trialId !== undefined) where.push(`r.trial_id = ${params.add(q.trialId, VARCHAR)}`);
  if (q.family !== undefined) where.push(`r.family = ${params.add(q.family, VARCHAR)}`);
  if (q.kind !== undefined) where.push(`r.kind = ${params.add(q.kind, VARCHAR)}`);
  if (q.from !== undefined) where.push(atOrAfter('r.device_time', q.from, params));
  if (q.to !== undefined) where.push(before('r.device_time', q.to, params));
  return `(SELECT r.* FROM (${parts.join(' UNION ALL ')}) r WHERE ${where.join(' AND ')})`;
}

/**
 * Two projections: the inner one works out each cell once (c0, c1, …) beside the sort
 * keys; the outer one renders them. Rendering reads every cell several times (is it
 * null, does it need quotes, …), which on the inner CASE expressions would work each one
 * out again; and concat() builds each line in one allocation where a chain of || would
 * copy it once per column.
 */
function copyStatement(request: DatasetExportRequest, released: string, params: Params, file: string): string {
  if (request.columns.length === 0) throw new HubError('INTERNAL', 'a dataset needs at least one column');
  const cells = request.columns.map((col, i) => `${cellSql(col, request, params)} AS c${i}`);
  const joins = [
    usesPseudonyms(request) ? 'LEFT JOIN export_pseudonyms ps ON ps.participant_id = p.participant_id' : '',
    usesAttributes(request)
      ? `LEFT JOIN export_alarm_refs ar ON p.device_id = ${params.add(request.alarmEvents.deviceId, VARCHAR)} AND ar.alarm_id = json_extract_string(p.attributes, '$.alarmId')`
      : '',
  ];
  const join = joins.join(' ');
  const source = `(SELECT ${cells.join(', ')}, p.device_time AS k_time, p.message_id AS k_message, p.seq AS k_seq FROM ${released} p ${join})`;
  const cell = (i: number): string => `c${i}`;
  let select: string;
  let options: string;
  if (request.format === 'parquet') {
    select = request.columns.map((col, i) => `${typed(col.type, cell(i))} AS ${ident(col.name)}`).join(', ');
    options = 'FORMAT parquet, COMPRESSION zstd';
  } else if (request.format === 'csv') {
    // The header is the line column's name: the writer prints it raw, like every line.
    select = `concat(${request.columns.map((col, i) => csvText(col.type, cell(i))).join(", ',', ")}) AS ${ident(csvHeader(request.columns))}`;
    options = `FORMAT csv, HEADER true, ${RAW_LINES}, NEW_LINE '\\r\\n'`; // RFC 4180 §2: CRLF
  } else {
    const fields = request.columns.map((col, i) => `'${i === 0 ? '{' : ','}${jsonKey(col.name)}:', ${jsonText(col.type, cell(i))}`);
    select = `concat(${fields.join(', ')}, '}') AS line`;
    options = `FORMAT csv, HEADER false, ${RAW_LINES}`;
  }
  return `COPY (SELECT ${select} FROM ${source} ORDER BY k_time, k_message, k_seq) TO ${literal(file)} (${options})`;
}

/** CSV writer settings that print each single-column line as is: no quoting, no escaping, no compression by file name. */
const RAW_LINES = "QUOTE '', ESCAPE '', COMPRESSION 'none'";

// ---- what each cell holds (datasets/columns.ts cellsOf, in SQL) ----

const IS_READING = `p.kind = 'reading'`;

/** The cell's value in its natural SQL type; TIMESTAMPTZ columns as epoch ms (BIGINT). */
function cellSql(col: DatasetColumnSpec, request: DatasetExportRequest, params: Params): string {
  switch (col.name) {
    case 'pseudonym':
      return 'ps.pseudonym';
    case 'phase': {
      // The same phases as datasets/columns.ts phaseOf (the export-parity test holds them equal).
      const b = request.baseline;
      const start = request.interventionFrom ?? b?.to ?? null;
      const arms = [
        ...(b ? [`WHEN ${before('p.device_time', b.from, params)} THEN 'pre-baseline'`, `WHEN ${before('p.device_time', b.to, params)} THEN 'baseline'`] : []),
        ...(start !== null ? [`WHEN ${before('p.device_time', start, params)} THEN 'pre-intervention'`, `ELSE 'intervention'`] : []),
      ];
      return arms.length === 0 ? 'CAST(NULL AS VARCHAR)' : `CASE ${arms.join(' ')} END`;
    }
    case 'room_id':
    case 'device_id':
    case 'profile_id':
    case 'profile_version':
    case 'family':
    case 'kind':
    case 'name':
    case 'device_time':
    case 'received_at':
      return `p.${col.name}`;
    case 'clock_skewed':
      return 'coalesce(p.clock_skewed, FALSE)';
    case 'value':
    case 'unit':
      return `CASE WHEN ${IS_READING} THEN p.${col.name} END`;
    case 'alert_code':
    case 'dispense_code':
    case 'severity':
      return `CASE WHEN NOT (${IS_READING}) THEN p.${col.name} END`;
    case 'attributes':
      // The store keeps JSON.stringify(attributes), which JSON.parse → JSON.stringify gives back unchanged.
      // An alarm event's alarm id is replaced by the audience's reference (datasets/columns.ts attributesFor):
      // JSON.stringify wrote it as "alarmId":"<id>", and alarm ids hold no character JSON escapes.
      return `CASE WHEN NOT (${IS_READING}) THEN CASE WHEN ar.ref IS NULL THEN coalesce(p.attributes, '{}')
        ELSE replace(p.attributes, concat('"alarmId":"', ar.alarm_id, '"'), concat('"alarmId":"', ar.ref, '"')) END END`;
    default:
      // As in cellsOf: a column nobody mapped is a bug, not a blank column.
      throw new HubError('INTERNAL', `dataset column ${col.name} has no SQL mapping`);
  }
}

/** Parquet: the value as the JS path's read_json(columns = ...) types it. */
function typed(type: DatasetColumnSpec['type'], v: string): string {
  switch (type) {
    case 'TIMESTAMPTZ':
      return `timezone('UTC', epoch_ms(${v}))`;
    case 'DOUBLE':
      // JSON has no NaN, Infinity or -0: JSON.stringify writes null, null and 0.
      return `CASE WHEN ${v} = 0 THEN CAST(0 AS DOUBLE) WHEN isfinite(${v}) THEN ${v} END`;
    default:
      return `CAST(${v} AS ${type})`;
  }
}

/** datasets/formats.ts csvField: RFC 4180 §2, quoted only when it holds a quote, comma, CR or LF. */
function csvText(type: DatasetColumnSpec['type'], v: string): string {
  if (type !== 'VARCHAR') return `coalesce(${jsText(type, v)}, '')`;
  return `CASE WHEN ${v} IS NULL THEN ''
    WHEN contains(${v}, '"') OR contains(${v}, ',') OR contains(${v}, chr(10)) OR contains(${v}, chr(13))
      THEN '"' || replace(${v}, '"', '""') || '"'
    ELSE ${v} END`;
}

/** JSON.stringify of the cell. */
function jsonText(type: DatasetColumnSpec['type'], v: string): string {
  switch (type) {
    case 'VARCHAR':
      return `CASE WHEN ${v} IS NULL THEN 'null' ELSE ${jsonString(v)} END`;
    case 'TIMESTAMPTZ':
      return `CASE WHEN ${v} IS NULL THEN 'null' ELSE concat('"', ${jsText(type, v)}, '"') END`;
    case 'DOUBLE':
      return `CASE WHEN isfinite(${v}) THEN ${jsNumber(v)} ELSE 'null' END`;
    default:
      return `coalesce(${jsText(type, v)}, 'null')`;
  }
}

/** String(cell) in JS for the non-text types; NULL stays NULL. */
function jsText(type: Exclude<DatasetColumnSpec['type'], 'VARCHAR'>, v: string): string {
  switch (type) {
    case 'BOOLEAN':
      return `CASE WHEN ${v} THEN 'true' WHEN NOT ${v} THEN 'false' END`;
    case 'INTEGER':
      return `CAST(${v} AS VARCHAR)`;
    case 'TIMESTAMPTZ':
      return isoTime(v);
    case 'DOUBLE':
      return `CASE WHEN isnan(${v}) THEN 'NaN' WHEN isinf(${v}) THEN CASE WHEN ${v} > 0 THEN 'Infinity' ELSE '-Infinity' END
        ELSE ${jsNumber(v)} END`;
  }
}

/**
 * Number.prototype.toString for a finite double (ECMA-262 Number::toString). Both
 * engines print the shortest digits that round-trip, so only the layout differs:
 * integers below 2^53 print exactly; in [0.001, 1e15) DuckDB's fixed notation is JS's;
 * anything else (rare) is re-laid from DuckDB's digits and exponent.
 */
function jsNumber(v: string): string {
  return `CASE WHEN ${v} = trunc(${v}) AND abs(${v}) < 9007199254740992 THEN CAST(CAST(${v} AS BIGINT) AS VARCHAR)
    WHEN abs(${v}) >= 0.001 AND abs(${v}) < 1e15 THEN CAST(${v} AS VARCHAR)
    ELSE ${relaidNumber(`CAST(${v} AS VARCHAR)`)} END`;
}

/**
 * DuckDB's shortest digits (fixed "123.0" or scientific "1.5e-07") in JS's layout: with n
 * the decimal exponent (value = 0.d₁d₂… × 10ⁿ) and k digits, fixed when -6 < n ≤ 21,
 * else d₁.d₂…e±(n-1).
 */
function relaidNumber(s: string): string {
  const sign = `CASE WHEN starts_with(${s}, '-') THEN '-' ELSE '' END`;
  const mantissa = `replace(split_part(${s}, 'e', 1), '-', '')`;
  // Leading zeros go ("0.0001" → "1"), so that k counts significant digits only.
  const digits = `rtrim(ltrim(replace(${mantissa}, '.', ''), '0'), '0')`;
  const intDigits = `length(split_part(${mantissa}, '.', 1))`;
  const leadingZeros = `(length(replace(${mantissa}, '.', '')) - length(ltrim(replace(${mantissa}, '.', ''), '0')))`;
  const exp = `CASE WHEN contains(${s}, 'e') THEN CAST(split_part(${s}, 'e', 2) AS INTEGER) ELSE 0 END`;
  const n = `(${intDigits} - ${leadingZeros} + ${exp})`;
  const k = `length(${digits})`;
  return `${sign} || CASE
      WHEN ${n} > -6 AND ${n} <= 0 THEN '0.' || repeat('0', -${n}) || ${digits}
      WHEN ${n} >= ${k} AND ${n} <= 21 THEN ${digits} || repeat('0', ${n} - ${k})
      WHEN ${n} > 0 AND ${n} <= 21 THEN ${digits}[:${n}] || '.' || ${digits}[${n} + 1:]
      ELSE ${digits}[1] || CASE WHEN ${k} > 1 THEN '.' || ${digits}[2:] ELSE '' END
        || 'e' || CASE WHEN ${n} - 1 < 0 THEN '-' ELSE '+' END || CAST(abs(${n} - 1) AS VARCHAR)
    END`;
}

/**
 * Date.prototype.toISOString of epoch ms: YYYY-MM-DDTHH:mm:ss.sssZ, and for years outside
 * 0000-9999 a sign and six digits (ECMA-262 §21.4.1.32). DuckDB's years count like JS's
 * (year 0 is 1 BC). strftime on a TIMESTAMP ignores the session time zone.
 */
function isoTime(ms: string): string {
  const t = `epoch_ms(${ms})`;
  return `CASE WHEN ${ms} >= -62167219200000 AND ${ms} < 253402300800000 THEN strftime(${t}, '%Y-%m-%dT%H:%M:%S.%gZ')
    ELSE CASE WHEN year(${t}) < 0 THEN '-' ELSE '+' END || lpad(CAST(abs(year(${t})) AS VARCHAR), 6, '0')
      || strftime(${t}, '-%m-%dT%H:%M:%S.%gZ') END`;
}

/**
 * JSON.stringify of a string: `"` and `\` escaped, control characters as \b \t \n \f \r or
 * \u00xx in lower-case hex, everything else as is. DuckDB's to_json escapes the same
 * way but for upper-case hex, so a string whose JSON holds "\u00" (a control character,
 * or a backslash before "u00") is escaped here instead, character by character.
 */
function jsonString(v: string): string {
  const json = `CAST(to_json(${v}) AS VARCHAR)`;
  let escaped = `replace(replace(${v}, '\\', '\\\\'), '"', '\\"')`;
  for (let code = 0; code < 0x20; code++)
    escaped = `replace(${escaped}, chr(${code}), '${CONTROL_ESCAPES[code] ?? `\\u${code.toString(16).padStart(4, '0')}`}')`;
  return `CASE WHEN contains(${json}, '\\u00') THEN concat('"', ${escaped}, '"') ELSE ${json} END`;
}

const CONTROL_ESCAPES: Readonly<Record<number, string>> = { 8: '\\b', 9: '\\t', 10: '\\n', 12: '\\f', 13: '\\r' };

// ---- SQL text from our own constants ----

/** A string literal; for the file path and column names, which are ours. */
const literal = (s: string): string => `'${s.replaceAll("'", "''")}'`;
const ident = (s: string): string => `"${s.replaceAll('"', '""')}"`;
const jsonKey = (name: string): string => JSON.stringify(name).replaceAll("'", "''");

/** The header line: column names are constants, quoted by the same rule as the cells. */
const csvHeader = (columns: readonly DatasetColumnSpec[]): string =>
  columns.map((col) => (/[",\r\n]/.test(col.name) ? `"${col.name.replaceAll('"', '""')}"` : col.name)).join(',');

const BIGINT_MAX = 2n ** 63n - 1n;
const BIGINT_MIN = -(2n ** 63n);

/**
 * An integer ms bound for `t >= x` / `t < x` on integer times: rounding x up changes
 * neither (as the store's msBound), and ±Infinity clamps to the ends of BIGINT.
 */
function msBound(x: number): bigint {
  if (Number.isNaN(x)) throw new HubError('VALIDATION_FAILED', 'a time bound is not a number');
  if (x === Infinity) return BIGINT_MAX;
  if (x === -Infinity) return BIGINT_MIN;
  const b = BigInt(Math.ceil(x));
  return b > BIGINT_MAX ? BIGINT_MAX : b < BIGINT_MIN ? BIGINT_MIN : b;
}

const atOrAfter = (column: string, x: number, params: Params): string => `${column} >= ${params.add(msBound(x), BIGINT)}`;
const before = (column: string, x: number, params: Params): string => (x === Infinity ? 'TRUE' : `${column} < ${params.add(msBound(x), BIGINT)}`);
