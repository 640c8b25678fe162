import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RejectionSampler } from '../../ingest/rejection-sample.js';
import { startRejectionRetention } from '../../ingest/rejection-retention.js';
import { createLogger } from '../../kernel/log.js';
import type { Rejection } from '../../kernel/telemetry.js';
import { openDuckDbTelemetryStore } from '../../stores/duckdb/telemetry-store.js';
import { batchOf, rejection } from '../contract/telemetry-store.contract.js';
import { until } from '../helpers/poll.js';

const dir = mkdtempSync(join(tmpdir(), 'arena-retention-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 5, 1);
const rejectionAt = (id: bigint, receivedAt: number): Rejection => rejection(id, receivedAt, { code: 'PAYLOAD_NOT_JSON', path: '', payload: '{' });

describe('rejection retention', () => {
  it('deletes rejections older than the retention, keeps the younger ones and the message ids', async () => {
    const store = await openDuckDbTelemetryStore({ path: join(dir, 'telemetry.duckdb') });
    try {
      await store.write(batchOf([], [rejectionAt(1n, NOW - 31 * DAY), rejectionAt(2n, NOW - 29 * DAY), rejectionAt(3n, NOW - DAY)]));
      const retention = startRejectionRetention({ store, days: 30, intervalMs: 60_000, logger: createLogger('silent'), now: () => NOW });
      await until('the retention deleted the old rejection', async () => (await store.rejectionCounts({}))[0]?.count === 2);
      await retention.stop();
      expect((await store.rejections({})).map((r) => r.messageId).sort()).toEqual([2n, 3n]);
      // The expired one's id is still known: the journal delivering it again (with its own receive
      // time) is a duplicate, not a new rejection. A device's resend an hour or more later is not
      // (the dedup window, stores/duckdb/README.md).
      expect(await store.write(batchOf([], [rejectionAt(1n, NOW - 31 * DAY)]))).toEqual({ storedMessages: 0, duplicateMessages: 1 });
    } finally {
      await store.close();
    }
  });
});

describe('rejection payload sampling', () => {
  it('keeps the first n payloads per device, code and clock hour, in bounded memory', () => {
    const s = new RejectionSampler({ perHour: 2, maxEntries: 2 });
    const hour = Date.UTC(2026, 0, 1, 10);
    expect([1, 2, 3].map(() => s.keepsPayload('a', 'PAYLOAD_NOT_JSON', hour))).toEqual([true, true, false]);
    expect(s.keepsPayload('a', 'UNIT_UNKNOWN', hour)).toBe(true);
    // A third pair in the same hour is past maxEntries: no payload until the hour turns.
    expect(s.keepsPayload('b', 'PAYLOAD_NOT_JSON', hour)).toBe(false);
    expect(s.keepsPayload('a', 'PAYLOAD_NOT_JSON', hour + 3_600_000)).toBe(true);
    expect(s.keepsPayload('b', 'PAYLOAD_NOT_JSON', hour + 3_600_000)).toBe(true);
    expect(s.withoutPayload).toBe(2);
  });
});
