/** The store's rows both ways: appended from domain objects, read back into them (column order is the contract). */
import type { DuckDBAppender, DuckDBConnection, DuckDBValue, DuckDBVector } from '@duckdb/node-api';
import type { Family, HubEvent, Point, Reading, Rejection, RejectionCode, Severity } from '../../kernel/telemetry.js';
import type { StagedMessage } from './dedup.js';

/** SQL ENUM type over constant values (never user input). */
export const enumOf = (values: readonly string[]): string => `ENUM(${values.map((v) => `'${v.replaceAll("'", "''")}'`).join(', ')})`;

/**
 * The SELECT list for points; pointAt() reads by these positions. kind is a closed set
 * and comes back as an ENUM: an ENUM cell is a dictionary lookup in JS, while a VARCHAR
 * cell over 12 bytes costs a native call per row. family stays VARCHAR: families are
 * catalogue data an arena extends, and a stored family must read back even after its
 * catalogue file is gone.
 */
export const POINT_COLUMNS = `message_id, seq, CAST(kind AS ${enumOf(['reading', 'event'])}) AS kind, device_id,
  profile_id, family, site_id, room_id, trial_id,
  participant_id, name, value, unit, alert_code, dispense_code, severity, attributes,
  device_time, received_at, clock_skewed, profile_version`;

export const REJECTION_COLUMNS = `message_id, device_id, profile_id, topic, code, path, message, payload, received_at,
  site_id, room_id, trial_id, participant_id`;

/** Rows appended between two turns of the event loop (a few milliseconds of work). */
export const APPEND_SLICE = 512;
export const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export async function appendAll<T>(c: DuckDBConnection, table: string, rows: readonly T[], appendRow: (a: DuckDBAppender, row: T) => void): Promise<void> {
  if (rows.length === 0) return;
  const appender = await c.createAppender(table);
  try {
    for (let i = 0; i < rows.length; i++) {
      appendRow(appender, rows[i]!);
      appender.endRow();
      // Appending is synchronous: let the event loop (PUBACKs, the API) run now and then.
      if (i % APPEND_SLICE === APPEND_SLICE - 1) await yieldToLoop();
    }
    // Flushing inside the open transaction: a later ROLLBACK discards these rows too.
    appender.flushSync();
  } catch (e) {
    appender.clear(); // drop a half-appended row so closing does not try to flush it
    throw e;
  } finally {
    appender.closeSync();
  }
}

/** Appends to a connection's temporary table (a request's own working rows, gone with the connection). */
export async function appendTempRows<T>(c: DuckDBConnection, table: string, rows: readonly T[], appendRow: (a: DuckDBAppender, row: T) => void): Promise<void> {
  const appender = await c.createAppender(table, 'main', 'temp');
  try {
    for (const row of rows) {
      appendRow(appender, row);
      appender.endRow();
    }
    appender.flushSync();
  } finally {
    appender.closeSync();
  }
}

export function appendStagedMessage(a: DuckDBAppender, m: StagedMessage): void {
  a.appendUBigInt(m.id);
  a.appendVarchar(m.deviceId);
  a.appendBigInt(BigInt(m.receivedAt));
  a.appendVarchar(m.status);
  if (m.deviceTime === null) a.appendNull();
  else a.appendBigInt(BigInt(m.deviceTime));
}

export function appendPoint(a: DuckDBAppender, p: Point): void {
  a.appendUBigInt(p.messageId);
  a.appendInteger(p.seq);
  a.appendVarchar(p.kind);
  a.appendVarchar(p.deviceId);
  a.appendVarchar(p.profileId);
  a.appendVarchar(p.family);
  appendNullableVarchar(a, p.siteId);
  appendNullableVarchar(a, p.roomId);
  appendNullableVarchar(a, p.trialId);
  appendNullableVarchar(a, p.participantId);
  a.appendVarchar(p.name);
  if (p.kind === 'reading') {
    a.appendDouble(p.value);
    a.appendVarchar(p.unit);
    a.appendNull(); // alert_code
    a.appendNull(); // dispense_code
    a.appendNull(); // severity
    // Fields a profile keeps (`unmapped: keep`); most readings have none.
    if (p.attributes) a.appendVarchar(JSON.stringify(p.attributes));
    else a.appendNull();
  } else {
    a.appendNull(); // value
    a.appendNull(); // unit
    appendNullableVarchar(a, p.alertCode);
    appendNullableVarchar(a, p.dispenseCode);
    a.appendInteger(p.severity);
    a.appendVarchar(JSON.stringify(p.attributes));
  }
  a.appendBigInt(BigInt(p.deviceTime)); // BigInt() throws on a fractional time: the batch rolls back
  a.appendBigInt(BigInt(p.receivedAt));
  a.appendBoolean(p.clockSkewed);
  appendNullableVarchar(a, p.profileVersion ?? null);
}

export function appendRejection(a: DuckDBAppender, r: Rejection): void {
  a.appendUBigInt(r.messageId);
  a.appendVarchar(r.deviceId);
  appendNullableVarchar(a, r.profileId);
  a.appendVarchar(r.topic);
  a.appendVarchar(r.code);
  a.appendVarchar(r.path);
  a.appendVarchar(r.message);
  appendNullableVarchar(a, r.payload);
  a.appendBigInt(BigInt(r.receivedAt));
  // `?? null`: journal lines written before rejections were attributed lack these fields.
  appendNullableVarchar(a, r.siteId ?? null);
  appendNullableVarchar(a, r.roomId ?? null);
  appendNullableVarchar(a, r.trialId ?? null);
  appendNullableVarchar(a, r.participantId ?? null);
}

export function appendNullableVarchar(a: DuckDBAppender, v: string | null): void {
  if (v === null) a.appendNull();
  else a.appendVarchar(v);
}

/** Reads one row of a chunk selected with POINT_COLUMNS. */
export function pointAt(columns: readonly DuckDBVector[], row: number): Point {
  const cell = (column: number): DuckDBValue | undefined => columns[column]?.getItem(row);
  const base = {
    messageId: asBigInt(cell(0)),
    seq: asNumber(cell(1)),
    deviceId: asString(cell(3)),
    profileId: asString(cell(4)),
    family: asString(cell(5)) as Family,
    siteId: asNullableString(cell(6)),
    roomId: asNullableString(cell(7)),
    trialId: asNullableString(cell(8)),
    participantId: asNullableString(cell(9)),
    name: asString(cell(10)),
    deviceTime: asNumber(cell(17)),
    receivedAt: asNumber(cell(18)),
    clockSkewed: cell(19) === true,
    profileVersion: asNullableString(cell(20)) ?? undefined,
  };
  if (cell(2) === 'reading') {
    const kept = asNullableString(cell(16));
    const reading: Reading = {
      kind: 'reading',
      ...base,
      value: asNumber(cell(11)),
      unit: asString(cell(12)),
      ...(kept === null ? {} : { attributes: JSON.parse(kept) as Reading['attributes'] }),
    };
    return reading;
  }
  const attributes = asNullableString(cell(16));
  const event: HubEvent = {
    kind: 'event',
    ...base,
    alertCode: asNullableString(cell(13)),
    dispenseCode: asNullableString(cell(14)),
    severity: asNumber(cell(15)) as Severity,
    attributes: attributes === null ? {} : (JSON.parse(attributes) as HubEvent['attributes']),
  };
  return event;
}

/** Reads one row selected with REJECTION_COLUMNS. */
export function rejectionFromRow(r: readonly DuckDBValue[]): Rejection {
  return {
    messageId: asBigInt(r[0]),
    deviceId: asString(r[1]),
    profileId: asNullableString(r[2]),
    topic: asString(r[3]),
    code: asString(r[4]) as RejectionCode,
    path: asString(r[5]),
    message: asString(r[6]),
    payload: asNullableString(r[7]),
    receivedAt: asNumber(r[8]),
    siteId: asNullableString(r[9]),
    roomId: asNullableString(r[10]),
    trialId: asNullableString(r[11]),
    participantId: asNullableString(r[12]),
  };
}

export function asString(v: DuckDBValue | undefined): string {
  if (typeof v !== 'string') throw new TypeError(`expected a string column, got ${typeof v}`);
  return v;
}

export function asNullableString(v: DuckDBValue | undefined): string | null {
  return v === null ? null : asString(v);
}

/** BIGINT/UBIGINT arrive as bigint, INTEGER/DOUBLE as number; the domain wants numbers. */
export function asNumber(v: DuckDBValue | undefined): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  throw new TypeError(`expected a numeric column, got ${v === null ? 'null' : typeof v}`);
}

export function asBigInt(v: DuckDBValue | undefined): bigint {
  if (typeof v !== 'bigint') throw new TypeError(`expected a bigint column, got ${typeof v}`);
  return v;
}
