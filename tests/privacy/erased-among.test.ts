import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { SqlClient } from '../../kernel/sql.js';
import { erasedAmong } from '../../service/adapters.js';
import { openDuckDbSqlClient } from '../../stores/duckdb/sql-client.js';
import { openSqlRegistry } from '../../stores/sql/registry.js';
import { contractProfiles } from '../contract/registry.contract.js';
import { seedTwoParticipants } from './two-participants.js';

/**
 * Which participants are erased, as the split layout's writers ask it before each write
 * (service/adapters.ts erasedAmong, on the registry's erasedParticipants): one query for
 * a whole batch of participants, not one per participant.
 */
const dir = mkdtempSync(join(tmpdir(), 'arena-erased-among-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('erasedAmong', () => {
  it('answers for a batch of participants in one query, and lists every erased one', async () => {
    const sql = await openDuckDbSqlClient(join(dir, 'registry.duckdb'));
    let queries = 0;
    const counting: SqlClient = {
      query: (text, params) => (queries++, sql.query(text, params)),
      transaction: (fn, opts) => sql.transaction(fn, opts),
      close: () => sql.close(),
    };
    const registry = await openSqlRegistry(counting, { profiles: contractProfiles() });
    try {
      await seedTwoParticipants(registry, 'P', 'Q', Date.now());
      await registry.enrolParticipant({ id: 'R', trialId: 'trial-1' });
      await registry.markErased('P', Date.now());
      await registry.markErased('R', Date.now());

      const ask = erasedAmong(registry);
      queries = 0;
      expect(await ask(['P', 'Q', 'R', 'unknown'])).toEqual(new Set(['P', 'R']));
      expect(queries).toBe(1);
      expect(await ask(['Q'])).toEqual(new Set());
      expect(await registry.erasedParticipants([])).toEqual([]);
      expect(await registry.erasedParticipants()).toEqual(['P', 'R']);
    } finally {
      await registry.close();
    }
  });
});
