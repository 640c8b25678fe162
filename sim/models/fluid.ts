import { type Agenda, HOUR, MINUTE, dayOf, hourOf, isNight, nextClock } from '../agenda.js';
import { chance, exponential, pick, uniform, type Rng } from '../random.js';

export type FluidEvent =
  | { kind: 'weight'; kg: number }
  | { kind: 'intake'; ml: number; source: 'drink' | 'tube' }
  | { kind: 'output'; ml: number; source: 'urine' | 'drain' };

/** Haemodialysis three times a week: days 0, 2 and 4 of each simulated week. */
const DIALYSIS_DAYS = new Set([0, 2, 4]);
const CUPS_ML = [100, 150, 200, 200, 250, 300];
const TUBE_FEED_HOURS = [9, 15, 21];

/** Days since the last dialysis session before `day` (sessions happen after the morning weigh-in). */
export function daysSinceDialysis(day: number): number {
  for (let back = 1; back <= 7; back++) if (DIALYSIS_DAYS.has((((day - back) % 7) + 7) % 7)) return back;
  return 7;
}

/**
 * A dialysis patient on fluid balance: weighed every morning, the weight creeping up by
 * the fluid gained since the last session; drinks through the day, passes urine, and
 * (some) get tube feeds. Drives both fluid-balance dialects.
 */
export function startFluidBalance(agenda: Agenda, rng: Rng, emit: (e: FluidEvent) => void): void {
  const dryKg = uniform(rng, 55, 95);
  const gainPerDayKg = uniform(rng, 0.5, 1.0);
  const tubeFed = chance(rng, 0.2);
  const catheter = chance(rng, 0.15); // output then drains into a measured bag

  function weighIn(): void {
    const kg = dryKg + gainPerDayKg * daysSinceDialysis(dayOf(agenda.now)) + uniform(rng, -0.15, 0.15);
    emit({ kind: 'weight', kg });
    agenda.at(nextClock(agenda.now, 6.5) + uniform(rng, 0, 60) * MINUTE, weighIn);
  }

  /** Nobody drinks in their sleep: a time that falls in the night moves to the next morning. */
  const awake = (t: number): number => (isNight(t) || hourOf(t) < 7.5 ? nextClock(t, 7.5) + uniform(rng, 0, 30) * MINUTE : t);

  function drink(): void {
    emit({ kind: 'intake', ml: pick(rng, CUPS_ML), source: 'drink' });
    agenda.at(awake(agenda.now + Math.max(20 * MINUTE, exponential(rng, 90 * MINUTE))), drink);
  }

  function urine(): void {
    emit({ kind: 'output', ml: Math.round(uniform(rng, 60, 300) / 10) * 10, source: catheter ? 'drain' : 'urine' });
    agenda.after(Math.max(45 * MINUTE, exponential(rng, (isNight(agenda.now) ? 5 : 3) * HOUR)), urine);
  }

  function tubeFeed(): void {
    emit({ kind: 'intake', ml: 250, source: 'tube' });
    agenda.at(Math.min(...TUBE_FEED_HOURS.map((h) => nextClock(agenda.now + 1, h))), tubeFeed);
  }

  agenda.at(nextClock(agenda.now, 6.5) + uniform(rng, 0, 60) * MINUTE, weighIn);
  agenda.at(awake(agenda.now + uniform(rng, 0, 60) * MINUTE), drink);
  agenda.after(uniform(rng, 0, 3) * HOUR, urine);
  if (tubeFed) agenda.at(Math.min(...TUBE_FEED_HOURS.map((h) => nextClock(agenda.now, h))), tubeFeed);
}
