import type { AlarmDetail, AlarmPlace, AlarmRule } from '../../kernel/alarms.js';
import type { Family, Point } from '../../kernel/telemetry.js';
import { RULE_CODES } from './codes.js';
import type { RaiseSignal, Severity } from './types.js';

export const placeOf = (p: Point): AlarmPlace => ({
  siteId: p.siteId,
  roomId: p.roomId,
  deviceId: p.deviceId,
  trialId: p.trialId,
  participantId: p.participantId,
});

/** Whom an alarm is about: the participant when known, else the room, else the device. */
export const subjectOf = (place: AlarmPlace): string =>
  place.participantId !== null ? `p:${place.participantId}` : place.roomId !== null ? `r:${place.roomId}` : `d:${place.deviceId ?? '-'}`;

/** When it happened: the device's clock, unless ingest flagged that clock as skewed. */
export const eventTime = (p: Point): number => (p.clockSkewed ? p.receivedAt : p.deviceTime);

export const sourceOf = (p: Point): string => `${p.messageId}:${p.seq}`;

export interface RaiseInput {
  readonly rule: AlarmRule;
  readonly key: string;
  readonly at: number;
  readonly place: AlarmPlace;
  readonly family: Family;
  readonly alertCode?: string | null;
  readonly severity?: Severity;
  readonly detail?: AlarmDetail;
  readonly notify?: readonly string[];
  readonly source?: string | null;
  readonly once?: boolean;
}

export function raise(i: RaiseInput): RaiseSignal {
  const codes = RULE_CODES[i.rule];
  return {
    type: 'raise',
    rule: i.rule,
    key: i.key,
    alertCode: i.alertCode ?? codes.alertCode,
    // Severity 0 means "not reported" (vkp-severity-level 0): fall back to the rule's.
    severity: i.severity === undefined || i.severity === 0 ? codes.severity : i.severity,
    at: i.at,
    place: i.place,
    family: i.family,
    detail: i.detail ?? {},
    notify: i.notify ?? [],
    source: i.source ?? null,
    ...(i.once ? { once: true } : {}),
  };
}

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
