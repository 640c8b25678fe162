import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BoardPairings } from '../../kernel/board-pairings.js';
import { openDuckDbSqlClient, type DuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { PAIRING_TTL_MS, openBoardPairings } from '../../stores/sql/board-pairings.js';

/** The pairing codes on a real DuckDB file: each works once, only within its time, typed any way a person types it. */
const T0 = Date.parse('2026-12-07T20:00:00Z');
let dir: string;
let sql: DuckDbSqlClient;
let boards: BoardPairings;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arena-pairing-'));
  sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
  boards = await openBoardPairings(sql, () => T0);
});
afterAll(async () => {
  await sql.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('board pairing codes', () => {
  it('are claimed once, in any case and with spaces, and keep no code in the table', async () => {
    const { code, pairing } = await boards.create('ward-5', 'Nurses station', T0);
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    const typed = ` ${code.toLowerCase().replace('-', ' ')} `;
    expect(await boards.claim(typed, T0 + 1000)).toMatchObject({ id: pairing.id, siteId: 'ward-5', claimedAt: T0 + 1000 });
    expect(await boards.claim(code, T0 + 2000)).toBeUndefined();
    await boards.bind(pairing.id, 'tok-1');
    expect((await boards.list('ward-5')).find((p) => p.id === pairing.id)).toMatchObject({ tokenId: 'tok-1' });
    const rows = await sql.query<Record<string, unknown>>('SELECT * FROM board_pairings');
    expect(JSON.stringify(rows)).not.toContain(code.replace('-', ''));
  });

  it('are refused once expired, and a second migration run changes nothing', async () => {
    const { code } = await boards.create('ward-5', 'Late', T0 + 10);
    expect(await boards.claim(code, T0 + 10 + PAIRING_TTL_MS)).toBeUndefined();
    const again = await openBoardPairings(sql, () => T0);
    expect((await again.list('ward-5')).map((p) => p.label)).toEqual(['Nurses station', 'Late']);
    expect(await boards.claim('NOT-A-CODE', T0)).toBeUndefined();
  });
});
