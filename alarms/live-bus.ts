import type { LiveFeed, LiveMessage } from '../kernel/alarms.js';

export interface LiveBus extends LiveFeed {
  publish(message: LiveMessage): void;
  /** Listeners subscribed now: every open live stream holds one, so a leak shows here. */
  subscribers(): number;
}

/**
 * In-process fan-out from ingest and the alarm engine to live streams: synchronous, so
 * a fall goes from commit to every open stream in the same turn of the event loop
 * (promise 6). A listener that throws is dropped rather than allowed to stop the others.
 */
export function createLiveBus(onError: (err: unknown) => void = () => undefined): LiveBus {
  const listeners = new Set<(m: LiveMessage) => void>();
  return {
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    subscribers: () => listeners.size,
    publish(message) {
      for (const l of listeners) {
        try {
          l(message);
        } catch (err) {
          listeners.delete(l);
          onError(err);
        }
      }
    },
  };
}
