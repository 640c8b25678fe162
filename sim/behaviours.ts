import { Agenda, HOUR, hourOf, every, type Risk } from './agenda.js';
import { chance, exponential, round, uniform, type Rng } from './random.js';
import { Battery } from './models/battery.js';
import { startOccupant } from './models/occupant.js';
import { startDispenser } from './models/dispenser.js';
import { startFluidBalance } from './models/fluid.js';

export interface BehaviourContext {
  readonly deviceId: string;
  readonly rng: Rng;
  /**
   * The device's clock (epoch ms) at a simulated time, for payload stamps: wall-clock time
   * when running live (the hub flags device times far from its own clock), the replayed
   * instant when replaying a past period.
   */
  readonly clock: (simMs: number) => number;
  /** The chance of a fall or a missed dose against the model's base rate, over simulated time. */
  readonly risk?: Risk;
  /** Simulated start: ms since local midnight of simulated day 0 (so 7 * HOUR starts at 07:00). */
  readonly start: number;
  /** Simulated seconds between heartbeats / status reports (normally the profile's expectedIntervalS). */
  readonly heartbeatS: number;
  /** UTC offset in minutes, for dialects that report local time (DoseBox). */
  readonly utcOffsetMin: number;
}

export interface Behaviour {
  /** Runs the device up to simulated time `simMs`; returns the payloads that became due, oldest first. */
  advance(simMs: number): string[];
}

export type BehaviourFactory = (ctx: BehaviourContext) => Behaviour;

type Rec = Record<string, unknown>;

/** Wires a model to an agenda and collects what it sends until the next advance(). */
function behaviour(ctx: BehaviourContext, setup: (agenda: Agenda, send: (payload: unknown) => void) => void): Behaviour {
  const agenda = new Agenda(ctx.start);
  const outbox: string[] = [];
  setup(agenda, (payload) => outbox.push(JSON.stringify(payload)));
  return {
    advance(simMs) {
      agenda.runUntil(simMs);
      return outbox.splice(0);
    },
  };
}

/** 2026-11-23T08:00:04+01:00: local time with its offset, as DoseBox firmware writes it. */
export function isoLocal(ms: number, offsetMin: number): string {
  const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 19);
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${local}${offsetMin < 0 ? '-' : '+'}${hh}:${mm}`;
}

/** 2026-11-23T06:45:12Z: UTC to the second, as AquaScale writes it. */
export const isoUtc = (ms: number): string => `${new Date(ms).toISOString().slice(0, 19)}Z`;

/** SenML (RFC 8428) pack: base name and base time (epoch seconds) on the first record. */
function senml(ctx: BehaviourContext, agenda: Agenda, first: Rec, ...rest: Rec[]): Rec[] {
  return [{ bn: `urn:dev:ser:${ctx.deviceId}:`, bt: round(ctx.clock(agenda.now) / 1000, 2), ...first }, ...rest];
}

/** Millilitres, or litres for a share of messages: both vendors' firmware mixes the two. */
function volume(rng: Rng, ml: number): [number, string] {
  return chance(rng, 0.3) ? [round(ml / 1000, 3), 'l'] : [ml, 'ml'];
}

const roomSense: BehaviourFactory = (ctx) =>
  behaviour(ctx, (agenda, send) => {
    const { rng } = ctx;
    const msg = (body: Rec): void => send({ sensor: ctx.deviceId, time: ctx.clock(agenda.now), fw: '2.4.1', ...body });
    const event = (type: string, zone: string, extra: Rec = {}, confidence = round(uniform(rng, 0.75, 0.99), 2)): void =>
      msg({ event: { type, confidence, zone, ...extra } });
    startOccupant(
      agenda,
      rng,
      (e) => {
        switch (e.kind) {
          case 'sat_up':
            return event('SITTING_ON_BED_EDGE', 'bed');
          case 'left_bed':
            return event('BED_EXIT', 'bed');
          case 'fall':
            return event('FALL_DETECTED', e.zone, {}, round(uniform(rng, 0.85, 0.99), 2));
          case 'chair_exit':
            return event('CHAIR_EXIT', 'chair');
          case 'room_exit':
            return event('ROOM_EXIT', 'door');
          case 'room_entry':
            return event('ROOM_ENTRY', 'door');
          case 'long_bathroom_stay':
            return event('LONG_BATHROOM_STAY', 'bathroom', { duration_s: e.durationS }, 1);
          case 'inactivity':
            return event('INACTIVITY', 'chair', { duration_s: e.durationS }, 1);
          default:
            return; // lying back down is nothing a room sensor reports
        }
      },
      ctx.risk,
    );
    const bootS = Math.floor(uniform(rng, 3600, 30 * 86400));
    every(agenda, ctx.heartbeatS * 1000, uniform(rng, 0, ctx.heartbeatS * 1000), () => {
      const temp = 21.5 + 1.2 * Math.sin(((hourOf(agenda.now) - 9) / 24) * 2 * Math.PI) + uniform(rng, -0.2, 0.2);
      const uptime = bootS + Math.floor((agenda.now - ctx.start) / 1000);
      msg({ status: { mains: true, temp_c: round(temp, 1), uptime_s: uptime } });
    });
    // A cleaner's trolley or a coat over the sensor, every week or so.
    const blocked = (): void => {
      event('SENSOR_BLOCKED', 'door', {}, 1);
      agenda.after(exponential(rng, 7 * 24 * HOUR), blocked);
    };
    agenda.after(exponential(rng, 7 * 24 * HOUR), blocked);
  });

const bedWatch: BehaviourFactory = (ctx) =>
  behaviour(ctx, (agenda, send) => {
    const { rng } = ctx;
    const occupant = startOccupant(
      agenda,
      rng,
      (e) => {
        if (e.kind === 'sat_up') send(senml(ctx, agenda, { n: 'exit', vs: 'sat_up' }));
        else if (e.kind === 'left_bed') send(senml(ctx, agenda, { n: 'exit', vs: 'left_bed' }, { n: 'occupied', vb: false, t: 0.4 }));
        else if (e.kind === 'back_in_bed') send(senml(ctx, agenda, { n: 'occupied', vb: true }));
      },
      ctx.risk,
    );
    const battery = new Battery(uniform(rng, 40, 100), ctx.start, 1);
    let batteryAt = -Infinity;
    every(agenda, ctx.heartbeatS * 1000, uniform(rng, 0, ctx.heartbeatS * 1000), () => {
      const inBed = occupant.place() === 'bed';
      const rest: Rec[] = inBed ? [{ n: 'resp_rate', u: '1/min', v: round(uniform(rng, 11, 18), 1) }] : [];
      if (agenda.now - batteryAt >= HOUR) {
        // Battery once an hour is enough; a nurse swaps the cells some time after it reads low.
        batteryAt = agenda.now;
        const pct = battery.level(agenda.now);
        rest.push({ n: 'battery', u: '%EL', v: pct });
        if (pct <= 10 && chance(rng, 0.1)) battery.replace(agenda.now);
      }
      send(senml(ctx, agenda, { n: 'occupied', vb: inBed }, ...rest));
    });
  });

const doseBox: BehaviourFactory = (ctx) =>
  behaviour(ctx, (agenda, send) => {
    const ts = (): string => isoLocal(ctx.clock(agenda.now), ctx.utcOffsetMin);
    const msg = (evt: string, extra: Rec = {}): void => send({ id: ctx.deviceId, ts: ts(), evt, ...extra });
    // When each slot fell due, in the device's own clock: carried on its later events.
    const scheduled = new Map<number, string>();
    const due = (slot: number): string => scheduled.get(slot) ?? scheduled.set(slot, ts()).get(slot)!;
    const opts = { statusEveryMs: ctx.heartbeatS * 1000, drainPerDay: 0.5, drainOffMainsPerHour: 4 };
    startDispenser(
      agenda,
      ctx.rng,
      opts,
      (e) => {
        switch (e.kind) {
          case 'ready':
            return msg('DOSE_READY', { slot: e.slot, scheduled: due(e.slot) });
          case 'taken':
            msg('DOSE_TAKEN', { slot: e.slot, scheduled: due(e.slot) });
            return void scheduled.delete(e.slot);
          case 'missed':
            msg('DOSE_MISSED', { slot: e.slot, scheduled: due(e.slot), window_min: e.windowMin });
            return void scheduled.delete(e.slot);
          case 'jam':
            return msg('JAM', { slot: e.slot, scheduled: due(e.slot) });
          case 'empty':
            return msg('EMPTY', { slot: e.slot });
          case 'prn':
            return msg('PRN_TAKEN', { slot: 0 });
          case 'low_stock':
            return msg('LOW_STOCK', { doses_left: e.left });
          case 'refilled':
            return msg('DOOR_OPEN');
          case 'mains_lost':
            msg('AC_LOST');
            return msg('BATTERY', { pct: e.battery });
          case 'mains_restored':
            return msg('AC_RESTORED');
          case 'status':
            return msg('BATTERY', { pct: e.battery });
          case 'battery_empty':
            return; // a backup cell: its BATTERY reading says it all
        }
      },
      ctx.risk,
    );
  });

const mediMate: BehaviourFactory = (ctx) =>
  behaviour(ctx, (agenda, send) => {
    const pack = (first: Rec, ...rest: Rec[]): void => send(senml(ctx, agenda, first, ...rest));
    const stock = (left: number): Rec => ({ n: 'stock', u: '{dose}', v: left });
    const battery = (pct: number): Rec => ({ n: 'battery', u: '%EL', v: pct });
    const opts = { statusEveryMs: ctx.heartbeatS * 1000, drainPerDay: 2.5, drainOffMainsPerHour: 3 };
    startDispenser(
      agenda,
      ctx.rng,
      opts,
      (e) => {
        switch (e.kind) {
          case 'ready':
            return pack({ n: 'dose', vs: 'ready' });
          case 'taken':
            return pack({ n: 'dose', vs: e.assisted ? 'taken_assisted' : 'taken' }, stock(e.left));
          case 'missed':
            return pack({ n: 'dose', vs: e.unconfirmed ? 'unconfirmed' : 'missed' });
          case 'low_stock':
            return pack(stock(e.left));
          case 'empty':
            return pack({ n: 'fault', vs: 'empty' });
          case 'jam':
            return pack({ n: 'fault', vs: 'jam' });
          case 'refilled':
            return pack({ n: 'fault', vs: 'lid_open' }, stock(e.left));
          case 'mains_lost':
            return pack({ n: 'fault', vs: 'no_mains' }, battery(e.battery));
          case 'battery_empty':
            return pack({ n: 'fault', vs: 'battery_empty' }, battery(e.battery));
          case 'status':
            return pack(stock(e.left), battery(e.battery));
          default:
            return; // no PRN compartment; mains coming back shows in the next status
        }
      },
      ctx.risk,
    );
  });

const aquaScale: BehaviourFactory = (ctx) =>
  behaviour(ctx, (agenda, send) => {
    const { rng } = ctx;
    const imperial = chance(rng, 0.25); // older firmware weighs in pounds
    const msg = (kind: string, value: number, unit: string, source?: string): void =>
      send({ serial: ctx.deviceId, measured_at: isoUtc(ctx.clock(agenda.now)), kind, value, unit, ...(source ? { source } : {}) });
    startFluidBalance(agenda, rng, (e) => {
      if (e.kind === 'weight') {
        if (imperial) msg('weight', round(e.kg * 2.20462, 1), 'lb');
        else msg('weight', Math.round(e.kg * 100) * 10, 'g');
      } else msg(e.kind, ...volume(rng, e.ml), e.source);
    });
  });

const vekta: BehaviourFactory = (ctx) =>
  behaviour(ctx, (agenda, send) => {
    const { rng } = ctx;
    const battery = new Battery(uniform(rng, 50, 100), ctx.start, 0.5);
    startFluidBalance(agenda, rng, (e) => {
      if (e.kind === 'weight') {
        const pct = battery.level(agenda.now);
        if (pct <= 5) battery.replace(agenda.now); // swapped after the low reading went out
        send(senml(ctx, agenda, { n: 'weight', u: 'kg', v: round(e.kg, 1) }, { n: 'battery', u: '%EL', v: pct }));
      } else if (e.kind === 'intake' && e.source === 'drink') {
        const [v, u] = volume(rng, e.ml);
        send(senml(ctx, agenda, { n: 'drink', u, v }));
      } // the cup counter sees neither tube feeds nor output
    });
  });

/** One behaviour per profile id in device-profiles/profiles. */
export const BEHAVIOURS: Readonly<Record<string, BehaviourFactory>> = {
  'roomsense-3d': roomSense,
  'bedwatch-senml': bedWatch,
  dosebox: doseBox,
  'medimate-senml': mediMate,
  aquascale: aquaScale,
  'vekta-senml': vekta,
};
