/**
 * Trials (utprøving), the participants enrolled in them, which device measured whom
 * where (assignments), and what each participant allowed (consent records). Times are
 * epoch ms on the hub clock; every interval is half-open, [from, to).
 */

/**
 * Consent scopes a participant grants and withdraws, each at a known time.
 * - care.live: shown live to clinicians of the site
 * - vendor.telemetry: the device's vendor may see its telemetry, without participant identifiers
 * - research: researchers of the trial get pseudonymised data
 */
export const CONSENT_SCOPES = ['care.live', 'vendor.telemetry', 'research'] as const;
export type ConsentScope = (typeof CONSENT_SCOPES)[number];

/** The lifecycle moves forward only: planned → running → completed → archived. */
export const TRIAL_STATUSES = ['planned', 'running', 'completed', 'archived'] as const;
export type TrialStatus = (typeof TRIAL_STATUSES)[number];
export const NEXT_STATUS: Readonly<Record<TrialStatus, TrialStatus | null>> = {
  planned: 'running',
  running: 'completed',
  completed: 'archived',
  archived: null,
};
/** Enrolment, assignments and new consents only while a trial is open; withdrawal always. */
export const isOpen = (status: TrialStatus): boolean => status === 'planned' || status === 'running';

/**
 * The status time gives a trial: planned before its period, running inside it, completed
 * after it. A status recorded further on (an early completion, archived) stands; time
 * never moves a trial backwards.
 */
export function statusAt(trial: Pick<Trial, 'status' | 'period'>, now: number): TrialStatus {
  const byTime: TrialStatus = now < trial.period.from ? 'planned' : now < trial.period.to ? 'running' : 'completed';
  return TRIAL_STATUSES.indexOf(byTime) > TRIAL_STATUSES.indexOf(trial.status) ? byTime : trial.status;
}

export interface Period {
  readonly from: number;
  readonly to: number;
}

export interface Trial {
  readonly id: string;
  readonly name: string;
  readonly siteId: string;
  readonly vendorIds: readonly string[];
  /** E.g. the ethics approval number (REK in Norway, Etikprövningsmyndigheten in Sweden). */
  readonly protocolRef: string;
  readonly period: Period;
  /** The baseline measurement (nullpunktmåling), inside the period. */
  readonly baseline: Period | null;
  /**
   * When the technology was switched on: the intervention period runs from here to the
   * end of the trial. Null: right after the baseline (the trial's evaluation has no
   * intervention period without a baseline or this).
   */
  readonly interventionFrom: number | null;
  readonly status: TrialStatus;
  /** Whether the trial's researchers also get device data (points with no participant). */
  readonly researchDeviceData: boolean;
  readonly createdAt: number;
}

export interface NewTrial {
  readonly id: string;
  readonly name: string;
  readonly siteId: string;
  readonly vendorIds: readonly string[];
  readonly protocolRef: string;
  readonly period: Period;
  readonly baseline?: Period | null;
  readonly interventionFrom?: number | null;
  readonly researchDeviceData?: boolean;
}

/** A person in one trial, known only by the pseudonym the clinic chose; the key to the identity stays at the clinic. */
export interface Participant {
  readonly id: string;
  readonly trialId: string;
  readonly createdAt: number;
  /** Set when the participant's data was erased; nothing is attributed to them afterwards. */
  readonly erasedAt: number | null;
}

/** Device ↔ participant ↔ room/bed for [from, to); to null runs until ended or the trial ends. */
export interface Assignment {
  readonly id: string;
  readonly trialId: string;
  readonly deviceId: string;
  readonly participantId: string;
  readonly roomId: string | null;
  readonly bed: number | null;
  readonly from: number;
  readonly to: number | null;
  readonly createdAt: number;
}

export interface NewAssignment {
  readonly trialId: string;
  readonly deviceId: string;
  readonly participantId: string;
  readonly roomId?: string | null;
  readonly bed?: number | null;
  readonly from: number;
  readonly to?: number | null;
}

export interface ConsentRecord {
  readonly id: string;
  readonly participantId: string;
  readonly scope: ConsentScope;
  readonly grantedAt: number;
  readonly withdrawnAt: number | null;
  /** The version of the consent form the participant signed. */
  readonly formVersion: string;
  readonly recordedAt: number;
}

export interface NewConsent {
  readonly participantId: string;
  readonly scope: ConsentScope;
  readonly grantedAt: number;
  readonly formVersion: string;
}

export interface TrialRegistry {
  createTrial(trial: NewTrial): Promise<Trial>;
  getTrial(id: string): Promise<Trial | undefined>;
  /** vendorId: only trials the vendor takes part in. */
  listTrials(filter?: { vendorId?: string }): Promise<Trial[]>;
  /** One step forward at a time; anything else is CONFLICT. */
  setTrialStatus(id: string, status: TrialStatus): Promise<Trial>;

  enrolParticipant(p: { id: string; trialId: string }): Promise<Participant>;
  getParticipant(id: string): Promise<Participant | undefined>;
  listParticipants(trialId: string): Promise<Participant[]>;
  /** Marks the participant erased and ends their open assignments at `at`. */
  markErased(participantId: string, at: number): Promise<Participant>;
  /** The ids of erased participants: among `ids` when given, else all of them; one query either way. */
  erasedParticipants(ids?: readonly string[]): Promise<string[]>;

  createAssignment(a: NewAssignment): Promise<Assignment>;
  endAssignment(id: string, at: number): Promise<Assignment>;
  listAssignments(filter: { trialId?: string; participantId?: string; deviceId?: string }): Promise<Assignment[]>;

  grantConsent(c: NewConsent): Promise<ConsentRecord>;
  /** Withdrawal is always possible and cannot be undone; a new grant is a new record. */
  withdrawConsent(id: string, at: number): Promise<ConsentRecord>;
  listConsents(participantId: string): Promise<ConsentRecord[]>;
}
