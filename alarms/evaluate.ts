import type { DeviceHealth } from '../kernel/alarms.js';
import type { Point } from '../kernel/telemetry.js';
import { placeOf } from './rules/common.js';
import { dailyOnReading, dailyOnTick } from './rules/daily.js';
import { doseOnEvent, doseOnTick } from './rules/dose-window.js';
import { eventSignals } from './rules/events.js';
import { fluidSignals } from './rules/fluid.js';
import { offlineOnPoint, offlineOnTick } from './rules/offline.js';
import { powerSignals } from './rules/power.js';
import { emptyState, type DeviceMemory, type EvalState, type RuleEnv, type Signal } from './rules/types.js';

export interface Evaluation {
  readonly signals: Signal[];
  /** Devices whose health (online, battery, mains) changed. */
  readonly health: DeviceHealth[];
}

export const healthOf = (m: DeviceMemory): DeviceHealth => ({
  deviceId: m.deviceId,
  profileId: m.profileId,
  siteId: m.place.siteId,
  roomId: m.place.roomId,
  lastSeenAt: m.lastSeenAt,
  offlineSince: m.offlineSince,
  battery: m.battery,
  mains: m.mains,
});

const healthKey = (m: DeviceMemory | undefined): string => (m ? `${m.offlineSince === null}|${m.battery}|${m.mains}|${m.place.roomId}` : '');

/**
 * Every alarm rule over one input, a point or a timer tick: deterministic, no I/O, no
 * clock of its own. A paused participant (away) gets no alarms at all.
 */
export class Evaluator {
  constructor(
    private readonly env: RuleEnv,
    readonly state: EvalState = emptyState(),
  ) {}

  point(p: Point): Evaluation {
    const before = healthKey(this.state.devices.get(p.deviceId));
    if (p.participantId !== null) this.state.places.set(p.participantId, { place: placeOf(p), family: p.family });
    const signals = offlineOnPoint(p, this.env, this.state);
    if (p.kind === 'event') {
      doseOnEvent(p, this.env, this.state);
      signals.push(...eventSignals(p, this.env));
    } else {
      signals.push(...powerSignals(p, this.env), ...fluidSignals(p, this.env, this.state), ...dailyOnReading(p, this.env, this.state));
    }
    const m = this.state.devices.get(p.deviceId)!;
    return { signals: this.unpaused(signals), health: healthKey(m) === before ? [] : [healthOf(m)] };
  }

  tick(now: number): Evaluation {
    const before = new Map([...this.state.devices].map(([id, m]) => [id, healthKey(m)]));
    const signals = [...offlineOnTick(now, this.env, this.state), ...doseOnTick(now, this.env, this.state), ...dailyOnTick(now, this.env, this.state)];
    const health = [...this.state.devices.values()].filter((m) => before.get(m.deviceId) !== healthKey(m)).map(healthOf);
    return { signals: this.unpaused(signals), health };
  }

  private unpaused(signals: Signal[]): Signal[] {
    return signals.filter((s) => s.type === 'clear' || s.place.participantId === null || !this.env.settingsOf(s.place.participantId).paused);
  }
}
