import type { ISubscriptionMap, MqttClient } from 'mqtt';
import { connectServiceClient, type ServiceTls } from '../service/mqtt-client.js';
import { decodeHandoff, handoffFilter } from '../kernel/handoff.js';
import type { Logger } from '../kernel/log.js';
import type { Ingest } from './pipeline.js';

/**
 * Split layout: ingest's side of kernel/handoff.ts. One persistent MQTT session per shard
 * this worker holds (ingest/shard-owner.ts decides which; CleanSession 0, a client id fixed
 * per shard, so any worker continues the same session), subscribed at QoS 1. mqtt.js sends the PUBACK for
 * a QoS 1 message when `handleMessage` calls back, and reads the next message only then,
 * so each message is acknowledged after its commit, in order. Until then the broker keeps
 * it in the session and sends it again after a reconnect; ingest stores a redelivery once
 * (exactly-once by message id).
 */
export interface HandoffConsumerOptions {
  readonly url: string;
  readonly tls?: ServiceTls | undefined;
  readonly username: string;
  readonly password: string;
  /** Session `i` uses client id `${clientIdPrefix}-${i}`. */
  readonly clientIdPrefix: string;
  readonly ingest: Pick<Ingest, 'accept' | 'reject'>;
  readonly logger: Logger;
  readonly reconnectMs?: number;
}

export interface HandoffConsumer {
  /** Starts consuming the shard's session; resolves once it has subscribed. */
  open(shard: number): Promise<void>;
  /** Takes no further message of the shard, lets the one being committed finish and be acknowledged, then disconnects. */
  close(shard: number): Promise<void>;
  /** Disconnects the shard's session at once, acknowledging nothing more (its lease is gone). */
  drop(shard: number): void;
  /** The shards this process consumes now. */
  held(): number[];
  sessions(): { connected: number; total: number };
  /** close() of every shard. */
  stop(): Promise<void>;
}

class Stopping extends Error {}

interface Session {
  readonly client: MqttClient;
  readonly ready: Promise<void>;
  stopping: boolean;
  idle(): Promise<void>;
}

export function startHandoffConsumer(o: HandoffConsumerOptions): HandoffConsumer {
  const log = o.logger.child({ component: 'ingest-handoff' });
  const sessions = new Map<number, Session>();

  function session(shard: number): Session {
    const clientId = `${o.clientIdPrefix}-${shard}`;
    const client = connectServiceClient({
      url: o.url,
      tls: o.tls,
      clientId,
      clean: false,
      username: o.username,
      password: o.password,
      reconnectMs: o.reconnectMs,
    });
    let current: Promise<unknown> = Promise.resolve();

    client.handleMessage = (packet, callback) => {
      if (self.stopping) {
        // No PUBACK: the broker keeps the message for the shard's next consumer.
        callback(new Stopping('ingest is letting this shard go'));
        return;
      }
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const handoff = decodeHandoff(packet.topic, payload);
      if (!handoff) {
        // Only the broker publishes on handoff topics, so this is a bug, not device data.
        log.error({ event: 'handoff_malformed', topic: packet.topic, bytes: payload.length }, 'not a handoff message; acknowledged and dropped');
        callback();
        return;
      }
      const work = handoff.kind === 'message' ? o.ingest.accept(handoff) : o.ingest.reject(handoff, handoff.kind);
      current = work.then(
        () => callback(),
        (err: unknown) => {
          // No PUBACK, and the connection goes: the broker sends it (and what follows) again.
          log.error({ err, event: 'commit_failed', shard, deviceId: handoff.deviceId }, 'commit failed; reconnecting without acknowledging');
          client.stream.destroy();
          callback(err instanceof Error ? err : new Error(String(err)));
        },
      );
    };

    const ready = new Promise<void>((resolve) => {
      client.on('connect', (connack) => {
        log.info({ event: 'handoff_connected', clientId, sessionPresent: connack.sessionPresent }, 'ingest session connected');
        // Subscribing again is harmless, and makes sure a session the broker lost gets one.
        // `resubscribe` makes mqtt.js send it: without it, a filter this client subscribed
        // before is skipped and the callback gets no grant at all, so a reconnect never
        // became ready.
        const subscription: ISubscriptionMap = { [handoffFilter(shard)]: { qos: 1 } };
        subscription.resubscribe = true;
        client.subscribe(subscription, (err, granted) => {
          if (err || granted?.[0]?.qos !== 1) {
            log.error({ err, event: 'handoff_subscribe_failed', clientId, granted }, 'the broker refused the handoff subscription');
            return;
          }
          resolve();
        });
      });
    });
    client.on('error', (err) => log.warn({ event: 'handoff_error', clientId, reason: err.message }, 'ingest session error'));
    client.on('offline', () => log.warn({ event: 'handoff_offline', clientId }, 'ingest session lost its broker; reconnecting'));
    const self: Session = {
      client,
      ready,
      stopping: false,
      idle: () =>
        current.then(
          () => undefined,
          () => undefined,
        ),
    };
    return self;
  }

  const close = async (shard: number): Promise<void> => {
    const s = sessions.get(shard);
    if (!s) return;
    s.stopping = true;
    await s.idle();
    await new Promise<void>((resolve) => s.client.end(false, {}, () => resolve()));
    sessions.delete(shard);
    log.info({ event: 'handoff_released', shard }, 'ingest let a handoff shard go');
  };

  return {
    open(shard) {
      let s = sessions.get(shard);
      if (!s) {
        s = session(shard);
        sessions.set(shard, s);
      }
      return s.ready;
    },
    close,
    drop(shard) {
      const s = sessions.get(shard);
      if (!s) return;
      s.stopping = true;
      // Forced: no DISCONNECT packet, nothing more acknowledged; the broker keeps the session for the next consumer.
      s.client.end(true);
      sessions.delete(shard);
      log.warn({ event: 'handoff_dropped', shard }, 'ingest dropped a handoff shard at once');
    },
    held: () => [...sessions.keys()].sort((a, b) => a - b),
    sessions: () => ({ connected: [...sessions.values()].filter((s) => s.client.connected).length, total: sessions.size }),
    async stop() {
      await Promise.all([...sessions.keys()].map(close));
    },
  };
}
