import type { Alarm, AlarmState } from '../kernel/alarms.js';
import type { EventDef } from '../kernel/measurements.js';
import { VKP_ALERT, VKP_SEVERITY } from '../kernel/vkp.js';
import { HUB, SNOMED, fhirId, iso } from './systems.js';
import type { Coding, Identifier, Reference, Resource } from './types.js';

/**
 * Alarms are Flags. A Flag (FHIR R4 §8.x Flag) is "a prospective warning of a potential
 * issue" about a subject that stays in force for a period, which is what an open alarm
 * on the ward board is: raised at a time, in force until resolved, shown to whoever
 * cares for the subject. Its status (active | inactive | entered-in-error) follows the
 * alarm's lifecycle directly, so "open alarms" is a status search. DetectedIssue is about
 * a clinical problem found in a proposed or ongoing action (interactions, duplicate
 * therapy), and Communication about a message sent to someone; neither is the alarm.
 *
 * raised, acknowledged → active; resolved → inactive; false_alarm → entered-in-error
 * (the flag should never have been raised). The hub's state itself (acknowledged or
 * not) and the VKP severity ride in meta.tag, which FHIR keeps for workflow labels.
 */
export const FLAG_STATUS: Readonly<Record<AlarmState, 'active' | 'inactive' | 'entered-in-error'>> = {
  raised: 'active',
  acknowledged: 'active',
  resolved: 'inactive',
  false_alarm: 'entered-in-error',
};

export interface FlagContext {
  /** The participant's pseudonym for the caller's audience; null for device alarms. */
  readonly subject: Identifier | null;
  readonly event: EventDef | undefined;
  /** What the audience sees as the alarm's identifier. */
  readonly alarmRef: string;
}

// Flag.subject is 1..1: an alarm about no participant is about the place it was raised.
function subjectOf(a: Alarm, subject: Identifier | null): Reference {
  if (subject) return { type: 'Patient', identifier: subject };
  if (a.roomId) return { type: 'Location', identifier: { system: HUB.room, value: a.roomId } };
  if (a.siteId) return { type: 'Location', identifier: { system: HUB.site, value: a.siteId } };
  return { display: 'no place recorded' };
}

export function toFlag(a: Alarm, ctx: FlagContext): Resource {
  const coding: Coding[] = [];
  const display = VKP_ALERT.display.get(a.alertCode);
  coding.push({ system: VKP_ALERT.url, code: a.alertCode, ...(display ? { display } : {}) });
  if (ctx.event?.snomed) coding.push({ system: SNOMED, code: ctx.event.snomed });
  coding.push({ system: HUB.event, code: a.event, ...(ctx.event ? { display: ctx.event.label.en } : {}) });
  const severity = VKP_SEVERITY.display.get(String(a.severity));
  return {
    resourceType: 'Flag',
    id: fhirId(ctx.alarmRef),
    meta: {
      lastUpdated: iso(a.updatedAt),
      tag: [
        { system: HUB.alarmState, code: a.state },
        { system: VKP_SEVERITY.url, code: String(a.severity), ...(severity ? { display: severity } : {}) },
      ],
    },
    identifier: [{ system: HUB.alarm, value: ctx.alarmRef }],
    status: FLAG_STATUS[a.state],
    code: { coding, text: ctx.event?.label.nb ?? a.event },
    subject: subjectOf(a, ctx.subject),
    period: { start: iso(a.raisedAt), ...(a.closedAt !== null ? { end: iso(a.closedAt) } : {}) },
    ...(a.deviceId ? { author: { reference: `Device/${fhirId(a.deviceId)}`, identifier: { system: HUB.device, value: a.deviceId } } } : {}),
  };
}
