import type { HubEvent } from '../../kernel/telemetry.js';
import { eventTime, num, placeOf, raise, subjectOf } from './common.js';
import type { EvalState, PendingDose, RuleEnv, Signal } from './types.js';

const slotOf = (e: HubEvent): string | null => {
  const slot = e.attributes.slot ?? e.attributes.scheduled;
  return slot === undefined ? null : String(slot);
};

/** Removes the pending dose of this slot (or, without slots, the oldest). */
function settle(list: PendingDose[], slot: string | null): void {
  const i = slot === null ? 0 : list.findIndex((d) => d.slot === slot || d.slot === null);
  if (i >= 0) list.splice(i, 1);
}

/**
 * A dose made available (dose_ready) and not confirmed taken within its window is
 * missed: VKP 1.3 Mangler utleveringsbekreftelse, alerting whom the participant's
 * settings name. The window is the participant's dose.windowMin, else the device's own
 * window_min; with neither the hub leaves the judgement to the device's dose_missed.
 */
export function doseOnEvent(e: HubEvent, env: RuleEnv, state: EvalState): void {
  const place = placeOf(e);
  const subject = subjectOf(place);
  const list = state.doses.get(subject) ?? [];
  if (e.name === 'dose_ready') {
    const windowMin = env.settingsOf(e.participantId).dose.windowMin ?? num(e.attributes.window_min);
    if (windowMin === null) return;
    const readyAt = eventTime(e);
    list.push({ readyAt, dueAt: readyAt + windowMin * 60_000, slot: slotOf(e), place, family: e.family, profileId: e.profileId });
    state.doses.set(subject, list);
  } else if (e.name === 'dose_taken' || e.name === 'dose_missed') {
    // A miss the device reports itself is raised by events.ts; the hub need not raise it again.
    settle(list, slotOf(e));
    if (list.length === 0) state.doses.delete(subject);
  }
}

export function doseOnTick(now: number, env: RuleEnv, state: EvalState): Signal[] {
  const out: Signal[] = [];
  for (const [subject, list] of state.doses) {
    for (const dose of list.filter((d) => d.dueAt <= now)) {
      list.splice(list.indexOf(dose), 1);
      const profile = env.profile(dose.profileId);
      if (profile && !profile.events.has('dose_missed')) continue;
      out.push(
        raise(env, {
          rule: 'dose_missed',
          key: `dose_missed|${subject}`,
          at: now,
          place: dose.place,
          family: dose.family,
          detail: { by: 'hub', readyAt: new Date(dose.readyAt).toISOString(), ...(dose.slot === null ? {} : { slot: dose.slot }) },
          notify: env.settingsOf(dose.place.participantId).dose.notify,
        }),
      );
    }
    if (list.length === 0) state.doses.delete(subject);
  }
  return out;
}
