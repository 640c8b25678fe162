import { HANDOFF_SHARDS } from '../kernel/handoff.js';
import type { Logger } from '../kernel/log.js';
import type { ShardLeases } from '../kernel/shard-leases.js';
import type { HandoffConsumer } from './handoff-consumer.js';

export interface ShardOwnerOptions {
  /** Opens the lease engine's session; called again after a session is lost. */
  readonly openLeases: () => Promise<ShardLeases>;
  readonly consumer: Pick<HandoffConsumer, 'open' | 'close' | 'drop' | 'held'>;
  /** How often the worker counts the workers and takes or gives back shards. */
  readonly roundMs: number;
  readonly logger: Logger;
  readonly shards?: number;
}

export interface ShardOwner {
  /** Resolves after the first round: this worker's shards taken and subscribed (none, when others hold them all). */
  readonly ready: Promise<void>;
  held(): number[];
  /** Stops the rounds, closes every shard gracefully and gives the leases back. */
  stop(): Promise<void>;
}

/**
 * Several ingest workers share the handoff shards: every round a worker counts the
 * workers (n) and holds ceil(shards / n) of them. It takes free shards up to its share,
 * and gives back what it holds beyond it, one round after another worker joins: the
 * shard's session is closed first (the commit under way finishes and is acknowledged;
 * later messages stay queued in the broker), then its lease. A worker that dies loses its
 * leases with its lease session, and the others take its shards in their next round; the
 * broker then sends them what the dead worker had not acknowledged, and the store keeps
 * a redelivery once (exactly-once by message id). When the lease session breaks, the
 * worker drops every shard at once, since another may take them from then on.
 */
export function startShardOwner(o: ShardOwnerOptions): ShardOwner {
  const log = o.logger.child({ component: 'ingest-shards' });
  const shards = o.shards ?? HANDOFF_SHARDS;
  let leases: ShardLeases | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  const dropAll = (reason: string): void => {
    const held = o.consumer.held();
    for (const shard of held) o.consumer.drop(shard);
    leases = undefined;
    log.error({ event: 'shard_leases_lost', reason, dropped: held }, 'shard leases lost; every shard dropped until they are taken again');
  };

  const round = async (): Promise<void> => {
    if (!leases) {
      const opened = await o.openLeases();
      opened.onLost((reason) => {
        if (leases === opened) dropAll(reason);
      });
      leases = opened;
    }
    const current = leases;
    const members = await current.members();
    const share = Math.ceil(shards / Math.max(1, members));
    const held = o.consumer.held();
    for (const shard of held.slice(share)) {
      await o.consumer.close(shard);
      await current.release(shard);
      log.info({ event: 'shard_released', shard, members, share }, 'shard given back to even out the workers');
    }
    const opening: Promise<void>[] = [];
    // Starting from a point of its own spreads the workers' first tries over the shards.
    const offset = Math.floor(Math.random() * shards);
    for (let k = 0; k < shards && o.consumer.held().length < share; k++) {
      const shard = (offset + k) % shards;
      if (o.consumer.held().includes(shard)) continue;
      if (await current.tryTake(shard)) {
        if (stopped || leases !== current) {
          await current.release(shard).catch(() => undefined);
          break;
        }
        log.info({ event: 'shard_taken', shard, members, share }, 'shard taken');
        opening.push(o.consumer.open(shard));
      }
    }
    // The first round waits until its shards are subscribed (readiness); later ones go on
    // while a session waits for its broker.
    if (!isReady) await Promise.all(opening);
  };

  let isReady = false;
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const loop = (): void => {
    if (stopped) return;
    running = round()
      .then(() => {
        isReady = true;
        markReady();
      })
      .catch((e: unknown) => {
        const reason = (e as Error).message;
        // The lease engine unreachable: hold nothing, since another worker may hold it all soon.
        if (leases) {
          const broken = leases;
          dropAll(reason);
          void broken.close();
        } else {
          log.warn({ event: 'shard_leases_unavailable', reason }, 'cannot reach the shard leases; retrying');
        }
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, o.roundMs);
      });
  };
  loop();

  return {
    ready,
    held: () => o.consumer.held(),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
      for (const shard of o.consumer.held()) await o.consumer.close(shard);
      await leases?.close();
    },
  };
}
