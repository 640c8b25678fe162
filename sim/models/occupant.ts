import { type Agenda, baseRisk, DAY, HOUR, MINUTE, type Risk, SECOND, isNight, nextClock } from '../agenda.js';
import { chance, exponential, uniform, type Rng } from '../random.js';

/** What a room or bed sensor can notice about the person; each dialect maps these to its own words. */
export type OccupantEvent =
  | { kind: 'sat_up' }
  | { kind: 'left_bed' }
  | { kind: 'lay_back' }
  | { kind: 'back_in_bed' }
  | { kind: 'fall'; zone: 'floor-bedside' | 'bathroom' }
  | { kind: 'chair_exit' }
  | { kind: 'room_exit' }
  | { kind: 'room_entry' }
  | { kind: 'long_bathroom_stay'; durationS: number }
  | { kind: 'inactivity'; durationS: number };

export type Place = 'bed' | 'chair' | 'room' | 'bathroom' | 'away' | 'floor';

/** Tunables, per day or per occasion. Falls are rare; getting up at night is not. */
const NIGHT_WAKE_MEAN = 3 * HOUR;
const LAY_BACK_P = 0.25;
const FALL_NIGHT_P = 0.04;
const FALL_DAY_P = 0.015;
const LONG_STAY_P = 0.06;
const LONG_STAY_THRESHOLD_S = 20 * 60;
const INACTIVITY_P = 0.03;
const MEAL_HOURS = [8.5, 12.5, 17.5];

/**
 * A resident's day: asleep 22–07 with a few night-time trips to the bathroom, up in the
 * chair by day with meals outside the room, now and then a fall. Drives the fall sensors.
 */
export function startOccupant(agenda: Agenda, rng: Rng, emit: (e: OccupantEvent) => void, risk: Risk = baseRisk): { place(): Place } {
  const falls = (p: number): boolean => chance(rng, p * risk(agenda.now));
  let place: Place = 'bed';
  let bedtime = 0;
  let meals: number[] = [];
  const min = (lo: number, hi: number): number => uniform(rng, lo, hi) * MINUTE;

  function sleep(): void {
    place = 'bed';
    // Back in bed after 07:00 (a late night trip, a lie-in): up again soon, for the day.
    if (!isNight(agenda.now)) return agenda.after(min(5, 40), riseForDay);
    const wake = agenda.now + Math.max(20 * MINUTE, exponential(rng, NIGHT_WAKE_MEAN));
    const morning = nextClock(agenda.now, 7) + min(0, 60);
    agenda.at(Math.min(wake, morning), wake < morning ? nightTrip : riseForDay);
  }

  function planDay(): void {
    const t = agenda.now;
    bedtime = nextClock(t, 22) + min(-45, 45);
    if (bedtime - t > 18 * HOUR) bedtime -= DAY; // started late in the evening: bedtime is tonight
    meals = MEAL_HOURS.map((h) => nextClock(t, h) + min(-20, 20)).filter((m) => m < bedtime && m - t < 16 * HOUR);
  }

  function getOutOfBed(fallP: number, then: () => void): void {
    emit({ kind: 'sat_up' });
    agenda.after(uniform(rng, 5, 90) * SECOND, () => {
      if (isNight(agenda.now) && chance(rng, LAY_BACK_P)) {
        emit({ kind: 'lay_back' });
        return sleep();
      }
      emit({ kind: 'left_bed' });
      place = 'room';
      if (falls(fallP)) return fall('floor-bedside');
      then();
    });
  }

  function nightTrip(): void {
    getOutOfBed(FALL_NIGHT_P, () => bathroom(() => backToBed()));
  }

  function riseForDay(): void {
    planDay();
    getOutOfBed(FALL_DAY_P, () => bathroom(daytime));
  }

  function bathroom(then: () => void): void {
    place = 'bathroom';
    const long = chance(rng, LONG_STAY_P);
    const stayS = long ? uniform(rng, LONG_STAY_THRESHOLD_S + 60, 45 * 60) : uniform(rng, 3, 12) * 60;
    if (long) {
      // The sensor raises the alert while the stay is still going on, once it passes the threshold.
      const alertS = uniform(rng, LONG_STAY_THRESHOLD_S, stayS);
      agenda.after(alertS * SECOND, () => emit({ kind: 'long_bathroom_stay', durationS: Math.round(alertS) }));
    }
    agenda.after(stayS * SECOND, () => {
      if (falls(FALL_DAY_P)) return fall('bathroom');
      place = 'room';
      then();
    });
  }

  function backToBed(): void {
    emit({ kind: 'back_in_bed' });
    sleep();
  }

  function fall(zone: 'floor-bedside' | 'bathroom'): void {
    place = 'floor';
    emit({ kind: 'fall', zone });
    // A carer comes in, helps the resident up, and the day or night goes on.
    agenda.after(min(3, 20), () => {
      emit({ kind: 'room_entry' });
      place = 'room';
      if (isNight(agenda.now)) return backToBed();
      daytime();
    });
  }

  function daytime(): void {
    const t = agenda.now;
    if (t >= bedtime) return backToBed();
    place = 'chair';
    const meal = meals[0];
    const until = Math.min(t + min(30, 120), meal ?? Infinity, bedtime);
    if (until - t > HOUR && chance(rng, INACTIVITY_P)) {
      agenda.after(HOUR, () => emit({ kind: 'inactivity', durationS: 3600 }));
    }
    agenda.at(until, () => {
      if (agenda.now >= bedtime) return backToBed();
      emit({ kind: 'chair_exit' });
      if (falls(FALL_DAY_P)) return fall('floor-bedside');
      if (meal !== undefined && agenda.now >= meal) {
        meals.shift();
        return outForMeal();
      }
      bathroom(daytime);
    });
  }

  function outForMeal(): void {
    emit({ kind: 'room_exit' });
    place = 'away';
    agenda.after(min(30, 75), () => {
      emit({ kind: 'room_entry' });
      place = 'room';
      daytime();
    });
  }

  if (isNight(agenda.now)) sleep();
  else {
    planDay();
    daytime();
  }
  return { place: () => place };
}
