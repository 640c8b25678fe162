import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import aedesPersistenceLevel from 'aedes-persistence-level';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import { ClassicLevel } from 'classic-level';
import { Redis } from 'ioredis';
import mqemitterRedis from 'mqemitter-redis';
import { levelSessions, type SessionStore } from './sessions.js';
import type { AedesPersistence } from './types.js';

/** Where a broker keeps its sessions and queued messages, and how its instances hear each other's publishes. */
export interface BrokerState {
  readonly persistence: AedesPersistence;
  readonly sessions: SessionStore;
  /** aedes's message bus; undefined: the in-process one (a single instance). */
  readonly mq?: unknown;
  /** The LevelDB itself, for the erasure pass over its queued messages (broker/erasure.ts); undefined on Redis. */
  readonly level?: ClassicLevel<string, string>;
  /** Where it lives, for the start-up log line. */
  readonly where: string;
  close(): Promise<void>;
}

/** One broker: LevelDB under dataDir/broker (aedes-persistence-level on classic-level). */
export async function openLevelState(dataDir: string): Promise<BrokerState> {
  const dir = join(dataDir, 'broker');
  mkdirSync(dir, { recursive: true });
  const db = new ClassicLevel<string, string>(dir);
  await db.open();
  return {
    persistence: aedesPersistenceLevel(db) as AedesPersistence,
    sessions: levelSessions(db.sublevel('arena-sessions')),
    level: db,
    where: dir,
    close: () => db.close(),
  };
}

/**
 * Several brokers sharing one Redis (BROKER_STATE=redis): sessions, subscriptions and
 * queued messages in aedes-persistence-redis, publishes between the instances over
 * mqemitter-redis, so a device or ingest may connect to any instance and find its
 * session there. What survives a crash of Redis itself is Redis's to say: with
 * `appendonly yes` and `appendfsync always` every write is on disk before Redis answers,
 * and so before the device's PUBACK (README "Beyond one machine").
 *
 * `sessionDelivery`: aedes-persistence-redis hands a reconnecting client at most this
 * many queued messages per CONNECT (its default, 1 000, would leave an ingest backlog
 * beyond it waiting for the next reconnect).
 */
export async function openRedisState(url: string, sessionDelivery: number): Promise<BrokerState> {
  const conn = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: null });
  await conn.connect();
  const sessionsKey = 'arena:sessions';
  const persistence = aedesPersistenceRedis({ conn, maxSessionDelivery: sessionDelivery }) as AedesPersistence;
  // aedes 1.2.0 turns `concurrency: 0` into mqemitter's, which queues nothing (broker/broker.ts).
  const mq = mqemitterRedis({ connectionString: url, concurrency: 0 });
  return {
    persistence,
    sessions: {
      has: async (id) => (await conn.sismember(sessionsKey, id)) === 1,
      add: async (id) => void (await conn.sadd(sessionsKey, id)),
      delete: async (id) => void (await conn.srem(sessionsKey, id)),
    },
    mq,
    where: url.replace(/\/\/[^@/]*@/, '//***@'),
    async close() {
      await new Promise<void>((resolve) => (mq as { close(cb: () => void): void }).close(() => resolve()));
      conn.disconnect();
    },
  };
}
