import { isOpen, type Actor, type Alarm } from '../kernel/alarms.js';
import { HubError } from '../kernel/errors.js';
import type { RaiseSignal } from './rules/types.js';

/** How many triggering messages an alarm remembers, to recognise a redelivery. */
const MAX_SOURCES = 20;

const withSource = (sources: readonly string[], source: string | null): readonly string[] =>
  source === null ? sources : [...sources, source].slice(-MAX_SOURCES);

/** A new alarm in state raised. */
export function openAlarm(id: string, s: RaiseSignal): Alarm {
  return {
    id,
    rule: s.rule,
    event: s.event,
    key: s.key,
    alertCode: s.alertCode,
    severity: s.severity,
    family: s.family,
    state: 'raised',
    ...s.place,
    raisedAt: s.at,
    lastTriggeredAt: s.at,
    triggerCount: 1,
    acknowledgedAt: null,
    acknowledgedBy: null,
    ackComment: null,
    closedAt: null,
    closedBy: null,
    closeComment: null,
    detail: s.detail,
    notify: s.notify,
    sources: withSource([], s.source),
    updatedAt: s.at,
    version: 1,
  };
}

/**
 * The same condition again while the alarm is open: counted and dated on the open
 * alarm (never a second one), at the higher severity, with the latest detail. An
 * acknowledged alarm stays acknowledged: the clinician is already on it.
 */
export function retrigger(a: Alarm, s: RaiseSignal): Alarm {
  return {
    ...a,
    // biome-ignore lint/complexity/useMathMinMax: Math.max would widen Severity (a union of levels) to number
    severity: s.severity > a.severity ? s.severity : a.severity,
    lastTriggeredAt: Math.max(a.lastTriggeredAt, s.at),
    triggerCount: a.triggerCount + 1,
    detail: s.detail,
    sources: withSource(a.sources, s.source),
    updatedAt: s.at,
    version: a.version + 1,
  };
}

export function acknowledge(a: Alarm, by: Actor, comment: string | null, at: number): Alarm {
  if (a.state !== 'raised')
    throw new HubError('CONFLICT', `alarm ${a.id} is ${a.state}${a.acknowledgedBy ? ` (acknowledged by ${a.acknowledgedBy.label})` : ''}`);
  return { ...a, state: 'acknowledged', acknowledgedAt: at, acknowledgedBy: by, ackComment: comment, updatedAt: at, version: a.version + 1 };
}

/** Resolves or marks a false alarm; allowed from raised too (a clinician at the bedside). */
export function close(a: Alarm, as: 'resolved' | 'false_alarm', by: Actor, comment: string | null, at: number): Alarm {
  if (!isOpen(a.state)) throw new HubError('CONFLICT', `alarm ${a.id} is already ${a.state}`);
  return { ...a, state: as, closedAt: at, closedBy: by, closeComment: comment, updatedAt: at, version: a.version + 1 };
}
