import { COMMITTED_TOPIC, withoutParticipants } from '../kernel/committed-wire.js';
import { decodeHandoff, HANDOFF_PREFIX } from '../kernel/handoff.js';
import type { Logger } from '../kernel/log.js';
import type { Assignment, TrialRegistry } from '../kernel/trials.js';
import { reviseQueued, type AedesPersistence, type QueuedVerdict, type QueueKeys } from './aedes-compat.js';

/**
 * Split layout: erasure reaching the broker's session store (LevelDB, broker/main.ts).
 * Two kinds of a participant's data wait there for a persistent session:
 *
 * - Ingest's commit forwards on COMMITTED_TOPIC (kernel/committed-wire.ts), queued for
 *   the API (and any other persistent subscriber) while it is away. Each loses the
 *   erased participants' points; one left with none is removed. The others' points are
 *   delivered as before.
 * - Device messages handed to ingest (kernel/handoff.ts), queued while ingest is away.
 *   They name no participant, but ingest attributes a message by its receive time, which
 *   the broker wrote into it: one received while the device was assigned to the
 *   participant is theirs, and ingest would withhold its points as an erased
 *   participant's (service/adapters.ts erasedAmong). Such a message is removed: the
 *   erasure ended the assignment, so the assignments' intervals say exactly which. A
 *   message received after the erasure is the device's data and stays, as in the
 *   all-in-one hub (tests/privacy/late-after-erasure.test.ts).
 *
 * Then the whole database is compacted, because LevelDB keeps deleted and overwritten
 * entries in its log and table files until it does: so also the packets delivered and
 * acknowledged long before the erasure. `forget` is given every erased participant
 * (service/adapters.ts followErasures); those already handled by this process are
 * skipped, so a broker that starts handles all of them once, and nothing is done for a
 * registry change that erased nobody new.
 */
export interface BrokerErasureOptions {
  /** The session store to revise; undefined (BROKER_STATE=redis): only later forwards are redacted. */
  readonly db: (QueueKeys & CompactableLevel) | undefined;
  readonly persistence: AedesPersistence;
  readonly assignments: Pick<TrialRegistry, 'listAssignments'>;
  readonly logger: Logger;
}

export interface BrokerErasure {
  forget(erased: readonly string[]): Promise<void>;
  /**
   * A commit forward ingest publishes now, without the points of anyone erased so far
   * (BrokerDeps.redactCommitted). Ingest attributes a message by its receive time, so one
   * it took from its session before the erasure reached the broker is forwarded with the
   * participant's points; with every point gone the forward is left with no deliveries.
   */
  redact(payload: Buffer): Buffer;
}

export function brokerErasure(o: BrokerErasureOptions): BrokerErasure {
  const log = o.logger.child({ component: 'broker-erasure' });
  const handled = new Set<string>();
  /** Everyone erased so far. */
  const known = new Set<string>();
  return {
    async forget(erased) {
      for (const id of erased) {
        known.add(id);
      }
      const fresh = erased.filter((id) => !handled.has(id));
      if (fresh.length === 0) return;
      if (!o.db) {
        for (const id of fresh) handled.add(id);
        log.warn(
          { event: 'broker_erasure_not_revised', participants: fresh.length },
          'messages queued in Redis keep an erased participant\'s points until delivered (README "Beyond one machine")',
        );
        return;
      }
      const db = o.db;
      const started = performance.now();
      const assigned = await assignmentsOf(o.assignments, fresh);
      const all = new Set(erased);
      const judge = (packet: { topic: string; payload: Buffer }): QueuedVerdict => {
        if (packet.topic === COMMITTED_TOPIC) {
          const rest = withoutParticipants(packet.payload, all);
          return rest === undefined ? 'keep' : rest.points === 0 ? 'remove' : { payload: rest.body };
        }
        if (!packet.topic.startsWith(HANDOFF_PREFIX)) return 'keep';
        const handoff = decodeHandoff(packet.topic, packet.payload);
        const covered = handoff && assigned.get(handoff.deviceId)?.some((a) => a.from <= handoff.receivedAt && (a.to === null || handoff.receivedAt < a.to));
        return covered ? 'remove' : 'keep';
      };
      const { removed, rewritten } = await reviseQueued(db, o.persistence, judge);
      await compactAll(db);
      for (const id of fresh) handled.add(id);
      // How many, never whom: the ids are what erasure removes.
      log.info(
        { event: 'broker_erasure_done', participants: fresh.length, removed, rewritten, ms: Math.round(performance.now() - started) },
        "erased participants' queued messages removed from the session store, and the store compacted",
      );
    },
    redact(payload) {
      if (known.size === 0 || !namesAnyOf(payload, known)) return payload;
      return withoutParticipants(payload, known)?.body ?? payload;
    },
  };
}

/** How a forward names a participant (kernel/committed-wire.ts writes compact JSON). */
const PARTICIPANT_ID = /"participantId":("(?:[^"\\]|\\.)*")/g;

/**
 * Whether a forward names one of `erased`: one pass over the forward whatever the number
 * of participants ever erased, so a commit's cost does not grow with the erasures.
 */
function namesAnyOf(payload: Buffer, erased: ReadonlySet<string>): boolean {
  for (const m of payload.toString('utf8').matchAll(PARTICIPANT_ID)) if (erased.has(JSON.parse(m[1]!) as string)) return true;
  return false;
}

/** Per device, the intervals it was assigned to one of `participants`. */
async function assignmentsOf(registry: Pick<TrialRegistry, 'listAssignments'>, participants: readonly string[]): Promise<Map<string, Assignment[]>> {
  const byDevice = new Map<string, Assignment[]>();
  for (const participantId of participants) {
    for (const a of await registry.listAssignments({ participantId })) byDevice.set(a.deviceId, [...(byDevice.get(a.deviceId) ?? []), a]);
  }
  return byDevice;
}

/** The slice of classic-level compactAll needs. */
export interface CompactableLevel {
  put(key: string, value: string): Promise<void>;
  del(key: string): Promise<void>;
  compactRange(start: string, end: string): Promise<void>;
}

// Keys sort as UTF-8 bytes: every key of the database lies in [FIRST_KEY, LAST_KEY), and
// LOW_MARK and HIGH_MARK (no prefix aedes or the sessions use) sort before and after them all.
const FIRST_KEY = '';
const LAST_KEY = '\u{10FFFF}\u{10FFFF}';
const LOW_MARK = '\u0000';
const HIGH_MARK = '\u{10FFFF}';

/**
 * Rewrites the whole database so that no deleted or overwritten entry is left in its
 * files. LevelDB's CompactRange (leveldb db/db_impl.cc) merges each level into the next
 * only down to the deepest level holding files, chosen before it writes the memtable out;
 * and a memtable written out keeps every version of every key, and may land on that
 * deepest level (up to level 2, when nothing overlaps it), where nothing rewrites it. So
 * twice: a key at each end of the key space, then CompactRange. The second time the
 * memtable's table spans every key and lands above the deepest level, so every level is
 * merged down into it, and a merge keeps only the newest version of a key (the delete,
 * and that too once nothing older lies below). The two keys are deleted after.
 */
export async function compactAll(db: CompactableLevel): Promise<void> {
  for (let pass = 0; pass < 2; pass++) {
    await db.put(LOW_MARK, '');
    await db.put(HIGH_MARK, '');
    await db.compactRange(FIRST_KEY, LAST_KEY);
  }
  await db.del(LOW_MARK);
  await db.del(HIGH_MARK);
}
