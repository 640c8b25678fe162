import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BoardPairings } from '../../kernel/board-pairings.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openPostgresSqlClient } from '../../stores/postgres/sql-client.js';
import { PAIRING_TTL_MS, openBoardPairings } from '../../stores/sql/board-pairings.js';
import type { SqlClient } from '../../stores/sql/sql-client.js';
import { startPostgres, type RunningPostgres } from '../setup/postgres.js';

/**
 * The pairing codes on both registry engines (a DuckDB file in the all-in-one hub, the
 * split layout's PostgreSQL 15): each works once, only within its time, typed any way a
 * person types it, and is kept only as its digest.
 */
const T0 = Date.parse('2026-12-07T20:00:00Z');
let dir: string;
let server: RunningPostgres;
const opened: (SqlClient & { close(): Promise<void> })[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arena-pairing-'));
  server = await startPostgres();
});
afterAll(async () => {
  for (const c of opened) await c.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const engines: [string, () => Promise<SqlClient & { close(): Promise<void> }>][] = [
  ['duckdb', () => openDuckDbSqlClient(join(dir, 'registry.duckdb'))],
  ['postgres', async () => openPostgresSqlClient(await server.newSchema('pairing'))],
];

describe.each(engines)('board pairing codes on %s', (_name, open) => {
  let sql: SqlClient;
  let boards: BoardPairings;
  beforeAll(async () => {
    const client = await open();
    opened.push(client);
    sql = client;
    boards = await openBoardPairings(sql, () => T0);
  });

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
