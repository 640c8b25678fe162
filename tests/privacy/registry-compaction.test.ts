import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eraseParticipantAlarms, migrateAlarmTables, upsertAlarm } from '../../alarms/store.js';
import type { Alarm } from '../../kernel/alarms.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';

/** The registry file (where the alarms and their comments are) keeps no trace of erased alarms once compacted. */
const dir = mkdtempSync(join(tmpdir(), 'arena-registry-compact-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COMMENT = 'found on the floor by the zeta window';
const alarm = (id: string, participantId: string, comment: string): Alarm =>
  ({
    id,
    key: `fall|${id}`,
    state: 'acknowledged',
    siteId: 'ward',
    participantId,
    raisedAt: 1,
    updatedAt: 2,
    comments: [{ text: comment }],
  }) as unknown as Alarm;
const filesHolding = (needle: string): string[] => readdirSync(dir).filter((f) => readFileSync(join(dir, f)).includes(Buffer.from(needle)));

describe('DuckDB SqlClient compact()', () => {
  it("removes deleted alarms' bytes from the file, and keeps the rest", async () => {
    const path = join(dir, 'registry.duckdb');
    let sql = await openDuckDbSqlClient(path);
    // Compressed strings (FSST) would hide the comments from a byte search before as after.
    await sql.query("SET force_compression = 'uncompressed'");
    await migrateAlarmTables(sql, 0);
    for (let i = 0; i < 200; i++) await upsertAlarm(sql, alarm(`a-${i}`, i % 2 ? 'P-ERASED' : 'P-KEPT', i % 2 ? `${COMMENT} ${i}` : `routine ${i}`));
    // Closed and reopened: the rows are in the file's blocks, not only in its WAL.
    await sql.close();
    expect(filesHolding(COMMENT)).toEqual(['registry.duckdb']);
    sql = await openDuckDbSqlClient(path);
    await sql.query("SET force_compression = 'uncompressed'");
    expect(await eraseParticipantAlarms(sql, 'P-ERASED')).toBe(100);
    // A DELETE and a CHECKPOINT may leave the bytes in freed blocks (whether they do depends on DuckDB's vacuum).
    await sql.query('CHECKPOINT');
    await sql.compact();
    expect(filesHolding(COMMENT)).toEqual([]);
    expect(filesHolding('P-ERASED')).toEqual([]);
    const [row] = await sql.query<{ n: number }>("SELECT count(*) AS n FROM alarm_alarms WHERE participant_id = 'P-KEPT'");
    expect(row?.n).toBe(100);
    await upsertAlarm(sql, alarm('a-new', 'P-KEPT', 'after')); // the client goes on working on the new file
    await sql.close();
  });
});
