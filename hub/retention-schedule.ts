import { HubError } from '../kernel/errors.js';
import type { AuditLog } from '../kernel/audit.js';
import type { Logger } from '../kernel/log.js';
import type { TelemetryStore } from '../kernel/ports.js';
import type { TrialRegistry } from '../kernel/trials.js';
import {
  dueActions,
  retentionViews,
  type RetentionAction,
  type RetentionPolicy,
  type TrialRetentionService,
  type TrialRetentionStore,
  type TrialRetentionView,
} from '../kernel/trial-retention.js';

export interface TrialRetentionOptions {
  readonly trials: Pick<TrialRegistry, 'listTrials' | 'getTrial' | 'listParticipants'>;
  readonly retention: TrialRetentionStore;
  readonly store: Pick<TelemetryStore, 'archiveTrial' | 'deleteTrial'>;
  readonly audit: Pick<AuditLog, 'append'>;
  /** A deleted trial's participants lose their alarms too (a participant is in one trial only). */
  readonly alarms?: { eraseParticipant(participantId: string): Promise<number> };
  /** Rewrites the registry file after alarms are deleted, as an erasure does. */
  readonly compactRegistry?: () => Promise<void>;
  readonly defaults: RetentionPolicy;
  readonly intervalMs: number;
  /** Actions applied per check at most: each rewrites the store's file, so a backlog is worked off over several checks. */
  readonly maxPerCheck: number;
  readonly logger: Logger;
  readonly now?: () => number;
}

export interface TrialRetentionSchedule extends TrialRetentionService {
  /** One check: applies up to maxPerCheck due actions, oldest due first; returns what it did. */
  check(): Promise<{ trialId: string; action: RetentionAction; points: number }[]>;
  stop(): Promise<void>;
}

/**
 * The hub's retention schedule for closed trials. Everything it knows is in the
 * registry's database (stores/sql/trial-retention.ts) and derived again at each check,
 * so a restart picks up where it left off. An action is done first, audited, and only
 * then recorded as done: a check cut short does it again at the next check, where the
 * store finds nothing left (0 points) and the record is made. An audit entry may
 * therefore repeat, never go missing.
 */
export function startTrialRetention(o: TrialRetentionOptions): TrialRetentionSchedule {
  const log = o.logger.child({ component: 'trial-retention' });
  const now = o.now ?? Date.now;
  const archive = o.store.archiveTrial?.bind(o.store);
  const remove = o.store.deleteTrial?.bind(o.store);

  const views = async (at: number): Promise<TrialRetentionView[]> => retentionViews(await o.trials.listTrials(), await o.retention.list(), o.defaults, at);

  async function apply(trialId: string, action: RetentionAction): Promise<number> {
    if (action === 'archive') {
      if (!archive) throw new HubError('STORE_UNAVAILABLE', 'this store keeps no archives');
      return archive(trialId);
    }
    if (!remove) throw new HubError('STORE_UNAVAILABLE', 'this store cannot delete a trial');
    const points = await remove(trialId);
    if (o.alarms) {
      for (const p of await o.trials.listParticipants(trialId)) await o.alarms.eraseParticipant(p.id);
      await o.compactRegistry?.();
    }
    return points;
  }

  async function check(): Promise<{ trialId: string; action: RetentionAction; points: number }[]> {
    const at = now();
    const states = await o.retention.list();
    const all = retentionViews(await o.trials.listTrials(), states, o.defaults, at);
    // A close is recorded when first seen, so that it stays put whatever the trial's period says later.
    const recorded = new Set(states.filter((s) => s.closedAt !== null).map((s) => s.trialId));
    for (const v of all) if (v.closedAt !== null && !recorded.has(v.trialId)) await o.retention.recordClosed(v.trialId, v.closedAt);
    const done: { trialId: string; action: RetentionAction; points: number }[] = [];
    for (const v of dueActions(all, at).slice(0, o.maxPerCheck)) {
      const action = v.next!.action;
      const points = await apply(v.trialId, action);
      await o.audit.append({
        actor: { role: 'system', tokenId: null },
        action: `trial retention: ${action}`,
        target: v.trialId,
        detail: { points, dueAt: new Date(v.next!.dueAt).toISOString(), ...v.policy },
      });
      await o.retention.recordDone(v.trialId, action, now(), points);
      log.info({ event: `trial_${action}d`, trialId: v.trialId, points }, `trial ${action === 'archive' ? 'archived' : 'deleted'} by its retention`);
      done.push({ trialId: v.trialId, action, points });
    }
    return done;
  }

  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = (): void => {
    running = running.then(() =>
      stopped
        ? undefined
        : check().catch((err: unknown) => log.warn({ err, event: 'trial_retention_failed' }, 'trial retention check failed; trying again at the next check')),
    );
  };
  run();
  const timer = setInterval(run, o.intervalMs);
  timer.unref();

  return {
    defaults: o.defaults,
    views,
    async setSetting(trialId, setting) {
      if (!(await o.trials.getTrial(trialId))) throw new HubError('NOT_FOUND', `no trial "${trialId}"`);
      await o.retention.setSetting(trialId, setting, now());
      const [trial] = (await views(now())).filter((v) => v.trialId === trialId);
      return trial!;
    },
    check: () => {
      const next = running.then(check);
      running = next.catch(() => undefined);
      return next;
    },
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
