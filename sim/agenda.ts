/** Simulated time: ms since local midnight of the first simulated day. */
export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

/** Hour of the simulated day, 0 ≤ h < 24. */
export const hourOf = (t: number): number => (((t % DAY) + DAY) % DAY) / HOUR;
export const dayOf = (t: number): number => Math.floor(t / DAY);
/** The first time ≥ t at which the simulated clock shows `hour` (fractional hours allowed). */
export function nextClock(t: number, hour: number): number {
  const at = dayOf(t) * DAY + hour * HOUR;
  return at >= t ? at : at + DAY;
}
export const isNight = (t: number): boolean => hourOf(t) >= 22 || hourOf(t) < 7;

/**
 * A discrete-event agenda: callbacks ordered by simulated time. Behaviours are written as
 * "at time X do Y, which schedules Z", and the simulator only ever says "run up to now".
 */
export class Agenda {
  private items: { at: number; seq: number; run: () => void }[] = [];
  private seq = 0;
  /** The simulated time of the callback being run (or of the last runUntil). */
  now: number;

  constructor(start: number) {
    this.now = start;
  }

  at(t: number, run: () => void): void {
    const item = { at: Math.max(t, this.now), seq: this.seq++, run };
    // Insertion keeps order; agendas stay short (a handful of pending items per device).
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.at > item.at) i--;
    this.items.splice(i, 0, item);
  }

  after(ms: number, run: () => void): void {
    this.at(this.now + ms, run);
  }

  /** Runs every callback due at or before t, in time order (ties in scheduling order). */
  runUntil(t: number): void {
    for (let next = this.items[0]; next && next.at <= t; next = this.items[0]) {
      this.items.shift();
      this.now = next.at;
      next.run();
    }
    this.now = Math.max(this.now, t);
  }
}

/**
 * How much more (or less) likely an adverse event (a fall, a missed dose) is at a simulated
 * time than the model's base rate: 1 without an intervention, the intervention's factor
 * from its start.
 */
export type Risk = (simMs: number) => number;
export const baseRisk: Risk = () => 1;

/** Runs `run` every `periodMs` of simulated time, first after `firstMs`. */
export function every(agenda: Agenda, periodMs: number, firstMs: number, run: () => void): void {
  const tick = (): void => {
    run();
    agenda.after(periodMs, tick);
  };
  agenda.after(firstMs, tick);
}
