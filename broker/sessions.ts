/**
 * Which client ids the broker holds a session for, to answer CONNACK's Session Present
 * flag. aedes answers 1 only when the stored session has subscriptions, but a session
 * exists from a CleanSession 0 CONNECT on, subscriptions or not [MQTT-3.2.2-2], and
 * ends with a CleanSession 1 CONNECT [MQTT-3.1.2-6]; aedes-compat.ts correctSessionPresent
 * writes the flag from it. It must live as long as the
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
