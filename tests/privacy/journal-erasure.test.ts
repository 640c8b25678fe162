import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { batchOf, reading } from '../contract/telemetry-store.contract.js';

/** The journal in front of DuckDB keeps no line of an erased participant, neither in its segments nor in its dead-letter file. */
const dir = mkdtempSync(join(tmpdir(), 'arena-journal-erasure-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const T0 = Date.parse('2025-03-01T08:00:00Z');
const P = 'PSEUDO-P-4711x';
const Q = 'PSEUDO-Q-0815y';

const journalText = (): string =>
  readdirSync(join(dir, 'journal'))
    .map((f) => readFileSync(join(dir, 'journal', f), 'utf8'))
    .join('');

describe('journal erasure', () => {
  it("drops the participant's lines from the segments and the dead-letter file, and keeps everyone else's", async () => {
    const inner = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
    const store = await withOutbox(inner, { dir: join(dir, 'journal'), maxBytes: 1 << 20, readYourWrites: true, logger: createLogger('silent') });
    try {
      // A fractional device time makes DuckDB refuse the whole batch: it goes to the dead-letter file.
      await store.write(batchOf([reading(1n, T0 + 0.5, { participantId: P, value: 73.9137 }), reading(2n, T0, { participantId: Q, value: 68.4421 })]));
      await store.write(batchOf([reading(3n, T0 + 0.5, { participantId: Q, value: 59.3317 })]));
      for (let i = 0; i < 5; i++) await store.write(batchOf([reading(10n + BigInt(i), T0 + i, { participantId: i % 2 ? P : Q, value: 73.9137 + i })]));
      await store.drained();
      const deadLetter = join(dir, 'journal', 'dead-letter.ndjson');
      expect(readFileSync(deadLetter, 'utf8').trim().split('\n')).toHaveLength(2);
      expect(journalText()).toContain(P);

      expect(await store.eraseParticipant(P)).toBe(2);
      expect(journalText()).not.toContain(P);
      expect(journalText()).not.toContain('73.9137');
      const entries = readFileSync(deadLetter, 'utf8').trim().split('\n');
      expect(entries).toHaveLength(2);
      expect(entries.join('')).toContain('68.4421'); // Q's point of the mixed batch stays set aside
      expect(entries.join('')).toContain('59.3317');

      // The journal goes on taking and delivering batches afterwards.
      await store.write(batchOf([reading(20n, T0 + 9, { participantId: Q, value: 1 })]));
      const left = [];
      for await (const p of store.points({})) left.push(p.participantId);
      expect(left).toEqual([Q, Q, Q, Q]);
    } finally {
      await store.close();
    }
  });
});
