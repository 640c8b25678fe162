import type { ISubscriptionMap, MqttClient } from 'mqtt';
import { connectServiceClient, type ServiceTls } from '../service/mqtt-client.js';
import type { LiveMessage } from '../kernel/alarms.js';
import { COMMITTED_TOPIC, decodeCommitted, type CommittedDelivery } from '../kernel/committed-wire.js';
import type { Logger } from '../kernel/log.js';
import type { Point } from '../kernel/telemetry.js';

/**
 * Split layout: the API's side of kernel/committed-wire.ts. One persistent MQTT session
 * (CleanSession 0, a fixed client id) subscribed at QoS 1 to ingest's commits; each
 * forward goes to the alarm engine and the live streams in the same turn, as in the
 * all-in-one hub (hub/start.ts), so a fall reaches the ward board without polling.
 *
 * mqtt.js sends the PUBACK when `handleMessage` calls back and reads the next message
 * only then. The callback waits until the alarm changes the forward caused are stored
 * (engine.flush()), and Grafana's copy of it is written or given up (stores/influx/grafana-mirror.ts),
 * so an acknowledged forward is never lost with the process; one not
 * yet acknowledged is sent again by the broker, and the engine judges each point once
 * (alarms/recent-points.ts), so a redelivery neither raises nor counts twice.
 */
export interface CommitFeedOptions {
  readonly url: string;
  readonly tls?: ServiceTls | undefined;
  readonly username: string;
  readonly password: string;
  readonly clientId: string;
  /** The alarm engine (alarms/engine.ts): judges the points, returns those it had not judged before. */
  readonly alarms: {
    onCommitted(deliveries: readonly CommittedDelivery[]): readonly Point[];
    /** Resolves once every alarm change so far is stored. */
    flush(): Promise<void>;
  };
  /** The live streams (alarms/live-bus.ts). */
  readonly live: { publish(message: LiveMessage): void };
  /** Grafana's consent-filtered copy (stores/influx/grafana-mirror.ts); it logs its own failures and never rejects. */
  readonly mirror?: { copy(deliveries: readonly CommittedDelivery[]): Promise<void> };
  readonly logger: Logger;
  readonly reconnectMs?: number;
}

export interface CommitFeed {
  /** Resolves once the session has subscribed. */
  readonly ready: Promise<void>;
  connected(): boolean;
  /** Takes no further forward, lets the one under way be stored and acknowledged, then disconnects. */
  stop(): Promise<void>;
}

class Stopping extends Error {}

export function startCommitFeed(o: CommitFeedOptions): CommitFeed {
  const log = o.logger.child({ component: 'alarm-feed' });
  let stopping = false;
  let subscribed = false;
  let current: Promise<unknown> = Promise.resolve();
  const client: MqttClient = connectServiceClient({
    url: o.url,
    tls: o.tls,
    clientId: o.clientId,
    clean: false,
    username: o.username,
    password: o.password,
    reconnectMs: o.reconnectMs,
  });

  client.handleMessage = (packet, callback) => {
    if (stopping) {
      // No PUBACK: the broker keeps the forward for the next start.
      callback(new Stopping('the API is stopping'));
      return;
    }
    const body = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    const decoded = packet.topic === COMMITTED_TOPIC ? decodeCommitted(body) : ({ ok: false, problem: `unexpected topic ${packet.topic}` } as const);
    if (!decoded.ok) {
      // Only ingest publishes here (broker/authorize.ts), so this is a bug, not device data.
      log.error(
        { event: 'forward_malformed', topic: packet.topic, bytes: body.length, problem: decoded.problem },
        'not a commit forward; acknowledged and dropped',
      );
      callback();
      return;
    }
    for (const bad of decoded.invalid) {
      log.error({ event: 'forward_delivery_invalid', index: bad.index, problem: bad.problem }, 'a forwarded delivery does not validate; dropped');
    }
    const fresh = o.alarms.onCommitted(decoded.deliveries);
    for (const point of fresh) o.live.publish({ kind: 'point', point });
    const copied = o.mirror?.copy(decoded.deliveries);
    current = Promise.all([o.alarms.flush(), copied]).then(
      () => callback(),
      (err: unknown) => {
        // No PUBACK, and the connection goes: the broker sends it again; the engine keeps
        // the change queued and stores it with the next flush.
        log.error({ err, event: 'alarm_store_failed' }, 'alarm state not stored; reconnecting without acknowledging');
        client.stream.destroy();
        callback(err instanceof Error ? err : new Error(String(err)));
      },
    );
  };

  const ready = new Promise<void>((resolve) => {
    client.on('connect', (connack) => {
      log.info({ event: 'feed_connected', clientId: o.clientId, sessionPresent: connack.sessionPresent }, 'alarm feed connected');
      // Subscribing again is harmless and gives a session the broker lost its subscription;
      // `resubscribe` makes mqtt.js send it although it has seen the filter before.
      const subscription: ISubscriptionMap = { [COMMITTED_TOPIC]: { qos: 1 } };
      subscription.resubscribe = true;
      client.subscribe(subscription, (err, granted) => {
        if (err || granted?.[0]?.qos !== 1) {
          log.error({ err, event: 'feed_subscribe_failed', granted }, 'the broker refused the alarm feed subscription');
          return;
        }
        subscribed = true;
        log.info({ event: 'feed_subscribed', topic: COMMITTED_TOPIC }, 'the alarm feed is subscribed');
        resolve();
      });
    });
  });
  client.on('error', (err) => log.warn({ event: 'feed_error', reason: err.message }, 'alarm feed error'));
  client.on('offline', () => log.warn({ event: 'feed_offline' }, 'alarm feed lost its broker; reconnecting'));
  client.on('close', () => {
    subscribed = false;
  });

  return {
    ready,
    connected: () => client.connected && subscribed,
    async stop() {
      stopping = true;
      await current.then(
        () => undefined,
        () => undefined,
      );
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    },
  };
}
