import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { ProfileSet } from '../device-profiles/load.js';
import {
  ALARM_SOURCE_ID,
  AlarmSettingsInput,
  defaultAlarmSettings,
  isOpen,
  type Actor,
  type Alarm,
  type AlarmService,
  type AlarmSettings,
  type LiveMessage,
  type ParticipantAlarmSettings,
} from '../kernel/alarms.js';
import { HubError } from '../kernel/errors.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { Point } from '../kernel/telemetry.js';
import type { SqlClient } from '../kernel/sql.js';
import { localClock } from './clock.js';
import type { AlarmConfig } from './config.js';
import { Evaluator, healthOf } from './evaluate.js';
import { AlarmLedger } from './ledger.js';
import { checkpointOf, CHECKPOINT_VERSION, loadCheckpoint, migrateCheckpointTable, restoreCheckpoint, saveCheckpoint, type Checkpoint } from './checkpoint.js';
import { acknowledge, close } from './lifecycle.js';
import { profileAlarmInfo } from './profile-info.js';
import { RecentPoints } from './recent-points.js';
import { ruleEventProblems } from './rules/codes.js';
import type { RuleEnv } from './rules/types.js';
import * as db from './store.js';

export interface AlarmEngineDeps {
  readonly sql: SqlClient;
  /** Replayed at start to rebuild rolling windows; receives alarms as dataset events. */
  readonly store: TelemetryStore;
  readonly profiles: ProfileSet;
  readonly logger: Logger;
  readonly config: AlarmConfig;
  /** The live stream; called synchronously with every alarm and device-health change. */
  readonly publish: (message: LiveMessage) => void;
  readonly now?: () => number;
}

export interface AlarmEngine extends AlarmService {
  /**
   * Ingest's commit listener: evaluated and broadcast at once, persisted behind. Returns
   * the points judged now, in order; a point judged before (a redelivery) is left out.
   */
  onCommitted(batches: readonly { readonly points: readonly Point[] }[]): readonly Point[];
  /** The timer rules (offline by silence, dose windows, daily measurements); runs by itself every tickMs. */
  tick(now?: number): void;
  /** Resolves once every change so far is durable. */
  flush(): Promise<void>;
  /**
   * Stores what the rules remember now (alarms/checkpoint.ts), so that the next start
   * replays only what is received after it; also every CHECKPOINT_EVERY_MS and at close.
   */
  checkpoint(): Promise<void>;
  /** Erasure: the participant's alarms and settings; returns how many alarms. */
  eraseParticipant(participantId: string): Promise<number>;
  close(): Promise<void>;
}

/** Points received this long before the last durable mark are still re-judged after a restart. */
const REPLAY_OVERLAP_MS = 60_000;
const UNSET_SITE = 'unassigned';
/**
 * Messages remembered to recognise a redelivery (recent-points.ts): about 10 MB at most,
 * hours of a ward's traffic.
 */
const RECENT_MESSAGES = 100_000;
/** How often the rules' memory is checkpointed while the engine runs. */
const CHECKPOINT_EVERY_MS = 5 * 60_000;

/**
 * The alarm engine: the single writer of alarm state. Opening it migrates its tables,
 * loads open alarms, settings and device state, and rebuilds what the rules remember
 * (rolling windows, pending doses, offline detection) so that they continue across a
 * restart: from its latest checkpoint and the telemetry received after it, or, without a
 * usable checkpoint, by replaying every point of the replay window.
 */
export async function openAlarmEngine(deps: AlarmEngineDeps): Promise<AlarmEngine> {
  const log = deps.logger.child({ component: 'alarms' });
  const now = deps.now ?? Date.now;
  const { sql } = deps;
  const started = now();
  await db.migrateAlarmTables(sql, started);

  const settings = new Map<string, ParticipantAlarmSettings>((await db.loadSettings(sql)).map((s) => [s.participantId, s]));
  const defaults = defaultAlarmSettings(UNSET_SITE);
  // Read again when a profile version is published while the hub runs (device-profiles/versions.ts).
  let seen = deps.profiles.decoders;
  let infos = profileAlarmInfo(deps.profiles);
  const problems = ruleEventProblems(deps.profiles.catalogue);
  if (problems.length > 0) throw new HubError('CONFIG_INVALID', problems.join('\n'));
  const env: RuleEnv = {
    event: (name) => deps.profiles.catalogue.events.get(name),
    profile: (id) => {
      if (deps.profiles.decoders !== seen) [seen, infos] = [deps.profiles.decoders, profileAlarmInfo(deps.profiles)];
      return infos.get(id);
    },
    settingsOf: (pid): AlarmSettings => (pid === null ? defaults : (settings.get(pid) ?? defaults)),
    allSettings: () => settings,
    clock: localClock(deps.config.timeZone),
  };
  const evaluator = new Evaluator(env);
  for (const m of await db.loadDevices(sql)) evaluator.state.devices.set(m.deviceId, m);

  const ledger = new AlarmLedger({
    sql,
    store: deps.store,
    log,
    now,
    newId: () => `alm-${randomBytes(9).toString('base64url')}`,
    publish: deps.publish,
    deviceState: (id) => evaluator.state.devices.get(id),
    retentionMs: deps.config.replayMs + REPLAY_OVERLAP_MS,
  });
  ledger.load(await db.loadAlarms(sql, started - deps.config.replayMs - REPLAY_OVERLAP_MS));
  const mark = Number((await db.getMeta(sql, db.MARK)) ?? 0);

  let evaluatedUntil = mark;
  const judge = (p: Point, live: boolean): void => {
    if (p.profileId === ALARM_SOURCE_ID) return;
    const { signals, health } = evaluator.point(p);
    evaluatedUntil = Math.max(evaluatedUntil, p.receivedAt);
    ledger.deviceTouched(p.deviceId);
    // Before the mark, the alarms these points raised are already stored: rebuild state only.
    if (live) for (const s of signals) ledger.apply(s);
    for (const h of health) deps.publish({ kind: 'device', health: h });
  };

  const recent = new RecentPoints({ windowMs: deps.config.replayMs + REPLAY_OVERLAP_MS, maxEntries: RECENT_MESSAGES });
  await migrateCheckpointTable(sql, started);
  const stored = await loadCheckpoint(sql).catch((err: unknown) => {
    log.warn({ err }, 'the alarm checkpoint is unreadable; replaying the whole window');
    return undefined;
  });
  const cp = usable(stored, deps.config.replayMs, started);
  let replayed = 0;
  if (cp) restoreCheckpoint(cp, evaluator.state, recent);
  // After a checkpoint: what was received since, less the messages it had judged. A point
  // received within the overlap before it may have been committed after it was taken.
  const receivedAfter = cp ? cp.mark - REPLAY_OVERLAP_MS : undefined;
  for await (const p of deps.store.points({ from: started - deps.config.replayMs, order: 'asc', ...(cp ? { receivedAfter } : {}) })) {
    if (receivedAfter !== undefined && p.receivedAt <= receivedAfter) continue; // a store that does not filter by receipt
    // Remembered, so that the same point arriving again after the start is not judged twice;
    // after a checkpoint, a point it remembers is in its state already.
    if (!recent.add(p, started) && cp) continue;
    judge(p, p.receivedAt > mark - REPLAY_OVERLAP_MS);
    replayed++;
  }
  ledger.setMark(() => evaluatedUntil);
  await ledger.flush();
  log.info({ replayed, fromCheckpoint: cp !== undefined, openAlarms: ledger.open().length, devices: evaluator.state.devices.size }, 'alarm engine started');

  /**
   * The body is taken at once (the state of one moment); it is stored only once the alarms
   * of every point in it are, since a restart does not judge those points again.
   */
  const checkpoint = async (): Promise<void> => {
    const takenAt = now();
    const mark = evaluatedUntil;
    const body = checkpointOf(evaluator.state, recent, { mark, replayMs: deps.config.replayMs, takenAt });
    await ledger.flushOrFail();
    await ledger.enqueue(() => saveCheckpoint(sql, body, mark, takenAt));
  };
  const checkpoints = setInterval(
    () => void checkpoint().catch((err: unknown) => log.error({ err }, 'could not store the alarm checkpoint; will retry')),
    CHECKPOINT_EVERY_MS,
  );
  checkpoints.unref();

  const tick = (at = now()): void => {
    const { signals, health } = evaluator.tick(at);
    for (const s of signals) ledger.apply(s);
    for (const h of health) {
      ledger.deviceTouched(h.deviceId);
      deps.publish({ kind: 'device', health: h });
    }
    ledger.prune(at);
    ledger.flush().catch((err: unknown) => log.error({ err }, 'could not store alarm state; will retry'));
  };
  const timer = setInterval(tick, deps.config.tickMs);
  timer.unref();

  const visible = (a: Alarm, siteIds: readonly string[] | undefined) => siteIds === undefined || (a.siteId !== null && siteIds.includes(a.siteId));
  const act = async (id: string, change: (a: Alarm, at: number) => Alarm, transition: 'acknowledged' | 'resolved' | 'false_alarm'): Promise<Alarm> => {
    const current = ledger.get(id) ?? (await db.getAlarm(sql, id));
    if (!current) throw new HubError('NOT_FOUND', `no alarm "${id}"`);
    const next = change(current, now());
    ledger.commit(next, transition);
    await ledger.flushOrFail();
    return next;
  };

  return {
    onCommitted(batches) {
      const at = now();
      const fresh: Point[] = [];
      for (const b of batches) {
        for (const p of b.points) {
          if (!recent.add(p, at)) continue;
          judge(p, true);
          fresh.push(p);
        }
      }
      if (ledger.hasPending()) ledger.flush().catch((err: unknown) => log.error({ err }, 'could not store alarm state; will retry'));
      return fresh;
    },
    tick,
    flush: () => ledger.flushOrFail(),
    checkpoint,

    async listAlarms(q) {
      const onlyOpen = q.states?.every(isOpen);
      if (onlyOpen) {
        return ledger
          .open()
          .filter((a) => visible(a, q.siteIds) && q.states!.includes(a.state))
          .sort((a, b) => b.raisedAt - a.raisedAt || a.id.localeCompare(b.id))
          .slice(0, q.limit ?? 100);
      }
      await ledger.flushOrFail();
      return db.queryAlarms(sql, q);
    },
    async getAlarm(id) {
      return ledger.get(id) ?? (await db.getAlarm(sql, id));
    },
    acknowledge: (id, by, comment) => act(id, (a, at) => acknowledge(a, by, comment, at), 'acknowledged'),
    resolve: (id, by, comment) => act(id, (a, at) => close(a, 'resolved', by, comment, at), 'resolved'),
    markFalseAlarm: (id, by, comment) => act(id, (a, at) => close(a, 'false_alarm', by, comment, at), 'false_alarm'),

    async getSettings(pid) {
      return settings.get(pid);
    },
    async listSettings(siteIds) {
      return [...settings.values()]
        .filter((s) => siteIds === undefined || siteIds.includes(s.siteId))
        .sort((a, b) => a.participantId.localeCompare(b.participantId));
    },
    async putSettings(pid, input, by: Actor) {
      const parsed = AlarmSettingsInput.safeParse(input);
      if (!parsed.success) throw new HubError('VALIDATION_FAILED', parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '));
      const record: ParticipantAlarmSettings = { ...parsed.data, participantId: pid, updatedAt: now(), updatedBy: by };
      await ledger.enqueue(() => db.upsertSettings(sql, record));
      settings.set(pid, record);
      return record;
    },
    fluidTargetHistory: (pids) => db.loadFluidTargets(sql, pids),
    deviceHealth(ids) {
      return ids.flatMap((id) => {
        const m = evaluator.state.devices.get(id);
        return m ? [healthOf(m)] : [];
      });
    },

    async eraseParticipant(pid) {
      await ledger.flushOrFail();
      // Forgotten in memory before the delete, so no later flush can write the participant's alarms back.
      ledger.forgetParticipant(pid);
      settings.delete(pid);
      const s = evaluator.state;
      s.fluid.delete(pid);
      s.places.delete(pid);
      for (const k of [...s.lastMeasured.keys()]) if (k.startsWith(`${pid}|`)) s.lastMeasured.delete(k);
      for (const m of s.devices.values()) {
        if (m.place.participantId === pid) {
          m.place = { ...m.place, participantId: null, trialId: null };
          ledger.deviceTouched(m.deviceId);
        }
      }
      const n = await ledger.enqueue(() => db.eraseParticipantAlarms(sql, pid));
      await ledger.flushOrFail();
      // The stored checkpoint still holds the participant's windows and places: replaced by one without them.
      await checkpoint();
      return n;
    },

    async close() {
      clearInterval(timer);
      clearInterval(checkpoints);
      await checkpoint().catch((err: unknown) => log.error({ err }, 'alarm state not stored at close'));
      ledger.close();
    },
  };
}

/**
 * A checkpoint that gives the state a full replay would: of this layout, taken under the
 * same replay window, and not older than the window (what it remembers beyond the window a
 * replay would not know).
 */
function usable(cp: Checkpoint | undefined, replayMs: number, started: number): Checkpoint | undefined {
  if (!cp || cp.version !== CHECKPOINT_VERSION || cp.replayMs !== replayMs) return undefined;
  return cp.mark >= started - replayMs ? cp : undefined;
}
