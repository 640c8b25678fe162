import type { OutboxStore } from '../stores/outbox/outbox.js';

/** Holds every change to the telemetry store for the moment a backup is cut. */
export interface WriteGate {
  /** The store to hand to ingest, the API and retention in place of the journaled one. */
  readonly store: OutboxStore;
  /**
   * Holds new changes, waits for those under way, then for the journal to be loaded into
   * DuckDB. Resolves with the release: until it is called, nothing new is committed, so
   * no PUBACK goes out and every message acknowledged before is in the DuckDB file.
   */
  quiesce(): Promise<() => void>;
}

// Every method that changes the telemetry file; reads pass.
const CHANGES = new Set<PropertyKey>(['write', 'eraseParticipant', 'expireRejections', 'archiveTrial', 'deleteTrial', 'requeueSetAside']);

export function writeGate(inner: OutboxStore): WriteGate {
  let closed: Promise<void> | undefined;
  let running = 0;
  let idle: (() => void) | undefined;

  const store = new Proxy(inner, {
    get(target, key, receiver) {
      const value: unknown = Reflect.get(target, key, receiver);
      if (typeof value !== 'function') return value;
      if (!CHANGES.has(key)) return value.bind(target);
      return async (...args: unknown[]) => {
        while (closed) await closed;
        running++;
        try {
          return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        } finally {
          if (--running === 0) idle?.();
        }
      };
    },
  });

  return {
    store,
    async quiesce() {
      while (closed) await closed;
      let open!: () => void;
      closed = new Promise((resolve) => (open = resolve));
      const release = (): void => {
        closed = undefined;
        open();
      };
      try {
        if (running > 0) await new Promise<void>((resolve) => (idle = resolve));
        idle = undefined;
        await inner.drained();
      } catch (e) {
        release();
        throw e;
      }
      return release;
    },
  };
}
