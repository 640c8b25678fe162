import type { AlarmDetail, AlarmPlace } from '../../kernel/alarms.js';
import { HubError } from '../../kernel/errors.js';
import type { Family, Point } from '../../kernel/telemetry.js';
import { RULE_EVENTS, type HubRule } from './codes.js';
import type { RaiseSignal, RuleEnv, Severity } from './types.js';

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

interface RaiseCommon {
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

/** A hub rule reports its own event (codes.ts) unless told which; the generic rule always is. */
export type RaiseInput = RaiseCommon & ({ readonly rule: HubRule; readonly event?: string } | { readonly rule: 'event'; readonly event: string });

/**
 * A raise signal with the code, severity and event of the catalogue: the alert code and
 * severity given (a profile's own) win over the catalogue event's defaults.
 */
export function raise(env: Pick<RuleEnv, 'event'>, i: RaiseInput): RaiseSignal {
  const event = i.rule === 'event' ? i.event : (i.event ?? RULE_EVENTS[i.rule]);
  const def = env.event(event);
  // The engine refuses a catalogue without the hub's rule events (codes.ts), and a device event opens an alarm only when its entry has a code.
  if (!def || def.alert === null) throw new HubError('INTERNAL', `alarm rule ${i.rule}: no catalogue event "${event}" with a VKP alert code`);
  return {
    type: 'raise',
    rule: i.rule,
    event,
    key: i.key,
    alertCode: i.alertCode ?? def.alert,
    // Severity 0 means "not reported" (vkp-severity-level 0): fall back to the catalogue's.
    severity: i.severity === undefined || i.severity === 0 ? def.severity : i.severity,
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
