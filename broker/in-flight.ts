/** Stops and restarts reading from one connection, without touching what was read already. */
export interface ReadGate {
  hold(): void;
  release(): void;
}

/**
 * How many publishes the broker handles at once (authorised, waiting for their commit
 * or handoff, not yet acknowledged). aedes cannot bound this itself: it reads a
 * connection again on every 'readable' event, also while packets of the previous read
 * are still being handled, so a device that sends faster than ingest commits would
 * otherwise have its whole backlog parsed and held in memory.
 */
export interface InFlightLimits {
  /** One connection: at this many its reads stop until half of them are done. */
  readonly perConnection: number;
  /** All connections: at this many, each connection that publishes stops being read; below it they resume one per publish done. */
  readonly total: number;
}

export const DEFAULT_IN_FLIGHT: InFlightLimits = { perConnection: 64, total: 10_000 };

export interface InFlight {
  /** One publish from `owner` starts; call what it returns once it is acknowledged or refused (more calls are ignored). */
  begin(owner: object): () => void;
  /** Publishes in flight now, and connections whose reads are held. */
  stats(): { readonly inFlight: number; readonly held: number };
}

/** `gateOf` finds the connection of an owner (an aedes client); owners without one are counted but never held. */
export function createInFlight(limits: InFlightLimits, gateOf: (owner: object) => ReadGate | undefined): InFlight {
  if (!(limits.perConnection >= 1 && limits.total >= 1)) throw new RangeError('in-flight limits must be at least 1');
  const perLow = Math.floor(limits.perConnection / 2);
  const counts = new Map<object, number>();
  const held = new Map<object, ReadGate>();
  let total = 0;

  const release = (owner: object, gate: ReadGate): void => {
    held.delete(owner);
    gate.release();
  };

  return {
    begin(owner) {
      const mine = (counts.get(owner) ?? 0) + 1;
      counts.set(owner, mine);
      total++;
      if ((mine >= limits.perConnection || total >= limits.total) && !held.has(owner)) {
        const gate = gateOf(owner);
        if (gate) {
          held.set(owner, gate);
          gate.hold();
        }
      }
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        total--;
        const left = (counts.get(owner) ?? 1) - 1;
        if (left === 0) counts.delete(owner);
        else counts.set(owner, left);
        if (held.size === 0 || total >= limits.total) return;
        const gate = held.get(owner);
        if (gate && left <= perLow) release(owner, gate);
        // One more held connection reads again per publish done, oldest first, so none
        // waits for ever behind connections that keep the total up.
        const oldest = held.entries().next().value;
        if (oldest && (counts.get(oldest[0]) ?? 0) <= perLow) release(...oldest);
      };
    },
    stats: () => ({ inFlight: total, held: held.size }),
  };
}
