import { type Agenda, baseRisk, HOUR, MINUTE, type Risk, isNight, nextClock } from '../agenda.js';
import { chance, exponential, uniform, type Rng } from '../random.js';
import { Battery } from './battery.js';

export type DispenserEvent =
  | { kind: 'ready'; slot: number }
  | { kind: 'taken'; slot: number; assisted: boolean; left: number }
  | { kind: 'missed'; slot: number; windowMin: number; unconfirmed: boolean }
  | { kind: 'prn' }
  | { kind: 'low_stock'; left: number }
  | { kind: 'empty'; slot: number }
  | { kind: 'jam'; slot: number }
  | { kind: 'refilled'; left: number }
  | { kind: 'mains_lost'; battery: number }
  | { kind: 'mains_restored' }
  | { kind: 'battery_empty'; battery: number }
  | { kind: 'status'; left: number; battery: number };

export const DOSE_HOURS = [8, 13, 18, 22] as const;
const CAPACITY = 28; // a week of four doses a day
const LOW_MARK = 4;
const WINDOW_MIN = 60;
const MISS_P = 0.1;
const JAM_P = 0.03;
const PRN_PER_DAY = 0.4;
const MAINS_LOSS_PER_DAY = 0.05;

export interface DispenserOptions {
  /** Simulated ms between status reports (the profile's expected interval). */
  statusEveryMs: number;
  /** Battery drain per simulated day on mains, and per hour without. */
  drainPerDay: number;
  drainOffMainsPerHour: number;
}

/**
 * A medication dispenser: doses at 08, 13, 18 and 22; about one in ten missed; stock runs
 * low and a carer refills it, sometimes only after it ran empty; now and then a jam, a PRN
 * dose, a power cut. Drives both dispenser dialects.
 */
export function startDispenser(agenda: Agenda, rng: Rng, opts: DispenserOptions, emit: (e: DispenserEvent) => void, risk: Risk = baseRisk): void {
  let left = Math.floor(uniform(rng, LOW_MARK + 2, CAPACITY + 1));
  let slot = Math.floor(uniform(rng, 1, CAPACITY + 1));
  let onMains = true;
  let refillPlanned = false;
  let charging = false;
  const battery = new Battery(Math.round(uniform(rng, 50, 100)), agenda.now, opts.drainPerDay, opts.drainOffMainsPerHour);

  function nextDose(): void {
    const at = Math.min(...DOSE_HOURS.map((h) => nextClock(agenda.now + 1, h)));
    agenda.at(at + uniform(rng, 0, 5) * 1000, dose);
  }

  function dose(): void {
    nextDose();
    slot = (slot % CAPACITY) + 1; // slot 0 is the PRN compartment
    if (left === 0) return emit({ kind: 'empty', slot });
    left -= 1;
    if (chance(rng, JAM_P)) {
      emit({ kind: 'jam', slot });
      const s = slot; // a carer clears the jam, then the dose is offered late
      agenda.after(uniform(rng, 10, 40) * MINUTE, () => offer(s));
    } else offer(slot);
    if (left === LOW_MARK) lowStock();
  }

  function offer(s: number): void {
    emit({ kind: 'ready', slot: s });
    if (chance(rng, MISS_P * risk(agenda.now))) {
      agenda.after(WINDOW_MIN * MINUTE, () => emit({ kind: 'missed', slot: s, windowMin: WINDOW_MIN, unconfirmed: chance(rng, 0.3) }));
    } else {
      agenda.after(uniform(rng, 1, 40) * MINUTE, () => emit({ kind: 'taken', slot: s, assisted: chance(rng, 0.1), left }));
    }
  }

  function lowStock(): void {
    emit({ kind: 'low_stock', left });
    if (refillPlanned) return;
    refillPlanned = true;
    // The pharmacy round comes within one to two days: sometimes after the box ran empty.
    agenda.after(uniform(rng, 4, 36) * HOUR, () => {
      refillPlanned = false;
      left = CAPACITY;
      emit({ kind: 'refilled', left });
    });
  }

  function prn(): void {
    // As-needed doses by day only.
    if (!isNight(agenda.now)) emit({ kind: 'prn' });
    agenda.after(exponential(rng, (24 * HOUR) / PRN_PER_DAY), prn);
  }

  function powerCut(): void {
    onMains = false;
    emit({ kind: 'mains_lost', battery: battery.level(agenda.now, true) });
    agenda.after(uniform(rng, 10, 120) * MINUTE, () => {
      battery.level(agenda.now, false);
      onMains = true;
      emit({ kind: 'mains_restored' });
      agenda.after(exponential(rng, (24 * HOUR) / MAINS_LOSS_PER_DAY), powerCut);
    });
  }

  function status(): void {
    const pct = battery.level(agenda.now, onMains);
    if (pct <= 5 && !charging) {
      emit({ kind: 'battery_empty', battery: pct });
      charging = true; // someone puts it on the dock within a few hours
      agenda.after(uniform(rng, 1, 6) * HOUR, () => {
        battery.replace(agenda.now);
        charging = false;
      });
    }
    emit({ kind: 'status', left, battery: pct });
    agenda.after(opts.statusEveryMs, status);
  }

  nextDose();
  agenda.after(uniform(rng, 0, opts.statusEveryMs), status);
  agenda.after(exponential(rng, (24 * HOUR) / PRN_PER_DAY), prn);
  agenda.after(exponential(rng, (24 * HOUR) / MAINS_LOSS_PER_DAY), powerCut);
}
