import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../kernel/log.js';
import type { TelemetryStore } from '../../kernel/ports.js';
import type { IngestBatch, Reading } from '../../kernel/telemetry.js';
import { withOutbox } from '../../stores/outbox/outbox.js';
import { batchOf, reading, rejection } from '../contract/telemetry-store.contract.js';
import { until } from '../helpers/poll.js';

/**
 * forgetParticipants (stores/outbox/outbox.ts) against a delivery in flight: the rewrite
 * of the segments waits for it, so no queued line is lost, repeated or cut, and none of
 * the forgotten participant's lines is delivered after it.
 */
const root = mkdtempSync(join(tmpdir(), 'arena-outbox-forget-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const T = Date.parse('2025-06-03T10:00:00Z');
const P = 'PSEUDO-P-4711x';
const Q = 'PSEUDO-Q-0815y';

/** A store that keeps what it is given; while held, a write waits until open(). */
function heldStore(): TelemetryStore & { writes: IngestBatch[]; waiting(): boolean; open(): void } {
  const writes: IngestBatch[] = [];
  let open = false;
  let waiting: (() => void) | undefined;
  return {
    writes,
    waiting: () => waiting !== undefined,
    open: () => {
      open = true;
      waiting?.();
    },
    async write(b) {
      if (!open) await new Promise<void>((resolve) => (waiting = resolve));
      writes.push(b);
      return { storedMessages: b.messages.length, duplicateMessages: 0 };
    },
    points: async function* () {},
    aggregate: async () => [],
    rejections: async () => [],
    rejectionCounts: async () => [],
    eraseParticipant: async () => 0,
    ping: async () => undefined,
    close: async () => undefined,
  };
}

describe('an outbox forgetting a participant erased elsewhere', () => {
  it('rewrites its queue after the delivery in flight, losing and repeating nothing of the others', { timeout: 60_000 }, async () => {
    const inner = heldStore();
    const dir = join(root, 'outbox');
    // One batch per delivery, so several wait behind the one in flight.
    const store = await withOutbox(inner, { dir, maxBytes: 1 << 20, deliveryBytes: 1, logger: createLogger('silent') });
    try {
      const pRejected = rejection(100n, T, { deviceId: 'dev-p', participantId: P, payload: 'p-secret-8812' });
      for (let k = 0; k < 6; k++) {
        const id = BigInt(k * 2 + 1);
        await store.write(
          batchOf(
            [reading(id, T + k, { participantId: Q, value: 40 + k }), reading(id + 1n, T + k, { deviceId: 'dev-p', participantId: P, value: 70 + k })],
            k === 3 ? [pRejected] : [],
          ),
        );
      }
      await until('a delivery is in flight', () => inner.waiting());
      const forgetting = store.forgetParticipants([P]);
      inner.open(); // the delivery in flight ends (with P's line it carries), the rest follow
      expect(await forgetting).toBe(1);
      const afterForget = inner.writes.length;
      await store.write(batchOf([reading(50n, T + 9, { participantId: Q, value: 49 })]));
      await store.drained();

      const delivered = inner.writes.flatMap((b) => b.points) as Reading[];
      // Q's points each exactly once, in order; P's only in deliveries made before the rewrite.
      expect(delivered.filter((p) => p.participantId === Q).map((p) => p.value)).toEqual([40, 41, 42, 43, 44, 45, 49]);
      expect(inner.writes.slice(afterForget).flatMap((b) => b.points.filter((p) => p.participantId === P))).toEqual([]);
      // P's rejection stays counted, without P.
      expect(inner.writes.flatMap((b) => b.rejections)).toEqual([{ ...pRejected, participantId: null, payload: null, message: '' }]);
      const files = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8'));
      expect(files.filter((text) => text.includes(P) || text.includes('p-secret-8812'))).toEqual([]);
    } finally {
      inner.open();
      await store.close();
    }
  });
});
