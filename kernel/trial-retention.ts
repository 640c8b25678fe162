import { statusAt, type Trial } from './trials.js';

/**
 * Retention of a closed trial's telemetry: archived (moved to Parquet the dataset export
 * still reads) some days after the trial closed, deleted (with an erasure's guarantees)
 * some days after. Each trial may set either; what it leaves unset comes from the hub's
 * defaults (ARENA_TRIAL_ARCHIVE_AFTER_DAYS, ARENA_TRIAL_DELETE_AFTER_DAYS). Null: never.
 */
export interface RetentionPolicy {
  readonly archiveAfterDays: number | null;
  readonly deleteAfterDays: number | null;
}

/** What a trial sets of its own; an absent key takes the hub's default. */
export type TrialRetentionSetting = Partial<RetentionPolicy>;

export const RETENTION_ACTIONS = ['archive', 'delete'] as const;
export type RetentionAction = (typeof RETENTION_ACTIONS)[number];

/** What has happened to a trial's data, as stored with the trial (times epoch ms). */
export interface TrialRetentionState {
  readonly trialId: string;
  readonly setting: TrialRetentionSetting;
  /** When the trial closed, as the retention schedule first recorded it; null: not yet seen closed. */
  readonly closedAt: number | null;
  readonly archivedAt: number | null;
  readonly archivedPoints: number | null;
  readonly deletedAt: number | null;
  readonly deletedPoints: number | null;
}

/** The store that keeps it: the registry's database, beside the trials. */
export interface TrialRetentionStore {
  /** Every trial with a row (a setting of its own, or something done); trials without one have the defaults and nothing done. */
  list(): Promise<TrialRetentionState[]>;
  get(trialId: string): Promise<TrialRetentionState | undefined>;
  setSetting(trialId: string, setting: TrialRetentionSetting, at: number): Promise<TrialRetentionState>;
  /** Records the close once: a later call keeps the first time. */
  recordClosed(trialId: string, at: number): Promise<void>;
  recordDone(trialId: string, action: RetentionAction, at: number, points: number): Promise<void>;
}

/** One trial's retention as an operator sees it: its policy, what was done, and what is next. */
export interface TrialRetentionView {
  readonly trialId: string;
  /** The trial's own setting; the rest of `policy` are the hub's defaults. */
  readonly setting: TrialRetentionSetting;
  readonly policy: RetentionPolicy;
  readonly closedAt: number | null;
  readonly archivedAt: number | null;
  readonly archivedPoints: number | null;
  readonly deletedAt: number | null;
  readonly deletedPoints: number | null;
  /** The next action and when it falls due; null: nothing left to do, or the trial is open, or its policy says never. */
  readonly next: { readonly action: RetentionAction; readonly dueAt: number } | null;
}

const DAY_MS = 86_400_000;

export const policyOf = (setting: TrialRetentionSetting, defaults: RetentionPolicy): RetentionPolicy => ({
  archiveAfterDays: setting.archiveAfterDays === undefined ? defaults.archiveAfterDays : setting.archiveAfterDays,
  deleteAfterDays: setting.deleteAfterDays === undefined ? defaults.deleteAfterDays : setting.deleteAfterDays,
});

/**
 * When the trial closed: as recorded, or else the end of its period once time has passed
 * it, or now for a trial an admin completed early (the schedule records it at its next
 * look, so an early completion counts from at most one check interval late).
 */
export function closedAtOf(trial: Pick<Trial, 'status' | 'period'>, recorded: number | null, now: number): number | null {
  if (recorded !== null) return recorded;
  const status = statusAt(trial, now);
  if (status !== 'completed' && status !== 'archived') return null;
  return Math.min(now, trial.period.to);
}

/**
 * The next action: deletion once due ends everything; archiving only if it falls due
 * before the deletion (archiving what is deleted at the same moment would be work for
 * nothing).
 */
export function nextAction(
  policy: RetentionPolicy,
  state: Pick<TrialRetentionState, 'archivedAt' | 'deletedAt'>,
  closedAt: number | null,
): TrialRetentionView['next'] {
  if (closedAt === null || state.deletedAt !== null) return null;
  const deleteAt = policy.deleteAfterDays === null ? null : closedAt + policy.deleteAfterDays * DAY_MS;
  const archiveAt = policy.archiveAfterDays === null || state.archivedAt !== null ? null : closedAt + policy.archiveAfterDays * DAY_MS;
  if (archiveAt !== null && (deleteAt === null || archiveAt < deleteAt)) return { action: 'archive', dueAt: archiveAt };
  return deleteAt === null ? null : { action: 'delete', dueAt: deleteAt };
}

/** The view of every trial at `now`, from the trials and their stored retention rows. */
export function retentionViews(
  trials: readonly Pick<Trial, 'id' | 'status' | 'period'>[],
  states: readonly TrialRetentionState[],
  defaults: RetentionPolicy,
  now: number,
): TrialRetentionView[] {
  const byTrial = new Map(states.map((s) => [s.trialId, s]));
  return trials.map((trial) => {
    const s = byTrial.get(trial.id);
    const setting = s?.setting ?? {};
    const policy = policyOf(setting, defaults);
    const done = { archivedAt: s?.archivedAt ?? null, deletedAt: s?.deletedAt ?? null };
    const closedAt = closedAtOf(trial, s?.closedAt ?? null, now);
    return {
      trialId: trial.id,
      setting,
      policy,
      closedAt,
      ...done,
      archivedPoints: s?.archivedPoints ?? null,
      deletedPoints: s?.deletedPoints ?? null,
      next: nextAction(policy, done, closedAt),
    };
  });
}

/** The actions due at `now`, oldest due first: what the schedule does next, and what a dry run lists. */
export const dueActions = (views: readonly TrialRetentionView[], now: number): TrialRetentionView[] =>
  views.filter((v) => v.next !== null && v.next.dueAt <= now).sort((a, b) => a.next!.dueAt - b.next!.dueAt || a.trialId.localeCompare(b.trialId));

/** What the API serves (GET and PUT /v1/trials/{id}/retention, GET /v1/retention): the hub's retention schedule. */
export interface TrialRetentionService {
  readonly defaults: RetentionPolicy;
  /** Every trial's retention at `at`, nothing applied: the dry run. */
  views(at: number): Promise<TrialRetentionView[]>;
  /** NOT_FOUND for a trial that does not exist. */
  setSetting(trialId: string, setting: TrialRetentionSetting): Promise<TrialRetentionView>;
}
