import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isHubError } from '../../kernel/errors.js';
import { createLogger } from '../../kernel/log.js';
import type { Rejection } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { T0, batchOf, rejection } from '../contract/telemetry-store.contract.js';
import { mountSmallFs, type SmallFs } from './small-fs.js';

/**
 * The journal's append on a disk that fills mid-line (promise 1, issue 25 item 3): the
 * kernel writes part of the line and then refuses the rest (ENOSPC). The append must
 * fail (no PUBACK), and the part written must be gone at once, so the lines appended
 * after space returns are whole and delivered. DuckDB sits on a normal disk here: only
 * the journal meets the full one.
 */
let fs: SmallFs;
const storeDir = mkdtempSync(join(tmpdir(), 'arena-journal-store-'));
beforeAll(() => {
  fs = mountSmallFs(4 * 1024 * 1024);
});
afterAll(() => {
  fs.unmount();
  rmSync(storeDir, { recursive: true, force: true });
});

const rejectionOf = (id: bigint, bytes: number): Rejection => rejection(id, T0, { code: 'PAYLOAD_NOT_JSON', path: '', payload: 'x'.repeat(bytes) });

const segmentBytes = (dir: string): Buffer[] =>
  readdirSync(dir)
    .filter((f) => f.startsWith('segment-'))
    .sort()
    .map((f) => readFileSync(join(dir, f)));

describe('the journal on a full disk', () => {
  it('a short write is a failed append whose partial line is cut away at once; appends resume when space returns', async () => {
    const inner = await openDuckDbTelemetryStore({ path: join(storeDir, 'telemetry.duckdb') });
    const dir = join(fs.dir, 'journal');
    const journal = await withOutbox(inner, {
      dir,
      maxBytes: 16 * 1024 * 1024,
      logger: createLogger('silent'),
      readYourWrites: true,
      retry: { minMs: 5, maxMs: 50 },
    });
    try {
      await journal.write(batchOf([], [rejectionOf(1n, 1000)]));
      await journal.drained();

      // Less room than one line: the kernel takes what fits, then says ENOSPC.
      fs.fill(6000);
      const failed = await journal.write(batchOf([], [rejectionOf(2n, 20_000)])).then(
        () => 'acknowledged',
        (e: unknown) => (isHubError(e) ? e.code : String(e)),
      );
      expect(failed).toBe('STORE_UNAVAILABLE');
      // Nothing of the failed line is left: every segment ends on a whole line.
      for (const data of segmentBytes(dir)) expect(data.length === 0 || data[data.length - 1] === 10).toBe(true);
      expect(segmentBytes(dir).join('')).not.toContain('"messageId":"2"');

      // Completely full (past the page the segment already holds): refused the same way.
      fs.fill(0);
      await expect(journal.write(batchOf([], [rejectionOf(3n, 10_000)]))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });

      fs.unfill();
      await journal.write(batchOf([], [rejectionOf(2n, 20_000)]));
      await journal.write(batchOf([], [rejectionOf(4n, 100)]));
      const counts = await journal.rejectionCounts({});
      expect(counts).toEqual([{ deviceId: 'dev-a', code: 'PAYLOAD_NOT_JSON', count: 3 }]);
      const stored = (await journal.rejections({})).map((r) => r.messageId).sort();
      expect(stored).toEqual([1n, 2n, 4n]);
      await journal.ping();
    } finally {
      fs.unfill();
      await journal.close();
    }
  });
});
