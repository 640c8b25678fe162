import { DAY, HOUR } from '../agenda.js';

/** A battery that runs down slowly with simulated time, faster while on its own (no mains). */
export class Battery {
  private pct: number;
  private last: number;

  constructor(
    startPct: number,
    startAt: number,
    private readonly perDay: number,
    private readonly offMainsPerHour = 0,
  ) {
    this.pct = startPct;
    this.last = startAt;
  }

  /** Level at simulated time t, in whole percent as devices report it. */
  level(t: number, onMains = true): number {
    const elapsed = Math.max(0, t - this.last);
    const used = (elapsed / DAY) * this.perDay + (onMains ? 0 : (elapsed / HOUR) * this.offMainsPerHour);
    this.pct = Math.max(0, this.pct - used);
    this.last = Math.max(this.last, t);
    return Math.round(this.pct);
  }

  /** Charged or swapped. */
  replace(t: number): void {
    this.pct = 100;
    this.last = t;
  }
}
