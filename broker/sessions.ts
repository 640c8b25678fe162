import type { Duplex } from 'node:stream';

/**
 * Which client ids the broker holds a session for, to answer CONNACK's Session Present
 * flag. aedes answers 1 only when the stored session has subscriptions, but a session
 * exists from a CleanSession 0 CONNECT on, subscriptions or not [MQTT-3.2.2-2], and
 * ends with a CleanSession 1 CONNECT [MQTT-3.1.2-6]. It must live as long as the
 * sessions do: in memory next to aedes's in-memory persistence, in the same LevelDB
 * next to aedes-persistence-level.
 */
export interface SessionStore {
  has(clientId: string): Promise<boolean>;
  add(clientId: string): Promise<void>;
  delete(clientId: string): Promise<void>;
}

export function memorySessions(): SessionStore {
  const ids = new Set<string>();
  return {
    has: async (id) => ids.has(id),
    add: async (id) => void ids.add(id),
    delete: async (id) => void ids.delete(id),
  };
}

/** The slice of abstract-level (e.g. a classic-level sublevel) the store needs. */
export interface KeyValue {
  get(key: string): Promise<string | undefined>;
  put(key: string, value: string): Promise<void>;
  del(key: string): Promise<void>;
}

export function levelSessions(db: KeyValue): SessionStore {
  return {
    has: async (id) => (await db.get(id)) !== undefined,
    add: (id) => db.put(id, '1'),
    delete: (id) => db.del(id),
  };
}

// CONNACK, section 3.2: 0x20, Remaining Length 2, acknowledge flags, return code.
const CONNACK = 0x20;
const SESSION_PRESENT = 0x01;

/**
 * Sets Session Present in the CONNACK aedes writes on `conn` when `present()` says so.
 * aedes builds the flag itself from stored subscriptions only and offers no hook
 * between deciding and writing it, so the third byte on the wire is corrected instead.
 * Only the first packet written is looked at; after it `conn.write` is the original.
 */
export function correctSessionPresent(conn: Duplex, present: () => boolean): void {
  const write = conn.write;
  let offset = 0; // bytes of the first packet seen so far
  let isConnack = false;
  const patched = function (this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
    if (Buffer.isBuffer(chunk) && chunk.length > 0) {
      if (offset === 0) isConnack = chunk[0] === CONNACK;
      const flagsAt = 2 - offset;
      if (isConnack && flagsAt >= 0 && flagsAt < chunk.length && present()) {
        chunk = Buffer.from(chunk);
        (chunk as Buffer)[flagsAt] = (chunk as Buffer)[flagsAt]! | SESSION_PRESENT;
      }
      offset += chunk instanceof Buffer ? chunk.length : 0;
      if (!isConnack || offset > 2) conn.write = write;
    }
    return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  };
  conn.write = patched as Duplex['write'];
}
