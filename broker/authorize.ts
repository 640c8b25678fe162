import type { AedesOptions, Client, PublishPacket } from 'aedes';
import { setTimeout as sleep } from 'node:timers/promises';
import { COMMITTED_TOPIC } from '../kernel/committed-wire.js';
import { HANDOFF_PREFIX, HANDOFF_SHARDS, handoffFilter } from '../kernel/handoff.js';
import type { Logger } from '../kernel/log.js';
import { clip, type BrokerPrincipal } from './authenticate.js';
import type { InFlight } from './in-flight.js';
import type { QuotaLimits, Quotas } from './rate-limit.js';
import type { DeviceTopics } from './topics.js';
import type { BrokerDeps } from './types.js';

export interface Authorizer {
  readonly authorizePublish: NonNullable<AedesOptions['authorizePublish']>;
  readonly authorizeSubscribe: NonNullable<AedesOptions['authorizeSubscribe']>;
  readonly authorizeForward: NonNullable<AedesOptions['authorizeForward']>;
  /** The subscription rule itself, also applied to what aedes stores in a session. */
  filterAllowed(client: Client, filter: string): boolean;
  /** Resolves when no sink / reject call started by a hook is still running. */
  settled(): Promise<void>;
  /** From aedes 'clientDisconnect': its messages still waiting for their turn are dropped (never acknowledged). */
  disconnected(client: Client): void;
}

const HANDOFF_FILTERS = new Set(Array.from({ length: HANDOFF_SHARDS }, (_, shard) => handoffFilter(shard)));

/** A policy refusal, already logged where it was decided. */
class Refused extends Error {}

const payloadOf = (packet: PublishPacket): Buffer => (Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload));

export function createAuthorizer(
  deps: Pick<BrokerDeps, 'sink' | 'reject' | 'limits' | 'directory' | 'redactCommitted'>,
  principalOf: (client: Client) => BrokerPrincipal | undefined,
  topics: DeviceTopics,
  quota: { readonly quotas: Quotas; deviceQuota(profileId: string): QuotaLimits },
  inFlight: InFlight,
  log: Logger,
): Authorizer {
  const { maxPayloadBytes, maxTopicLength } = deps.limits;
  const pending = new Set<Promise<void>>();
  const tails = new WeakMap<Client, Promise<void>>();

  const deviceIdOf = (client: Client | null): string | undefined => {
    const principal = client ? principalOf(client) : undefined;
    return principal?.kind === 'device' ? principal.deviceId : undefined;
  };

  // Sink calls of one client run concurrently (ingest group-commits them), but their
  // callbacks fire in arrival order, so PUBACKs and forwarding keep the order the device
  // published in: topics are "Ordered Topics" by default [MQTT-4.6.0-5], [MQTT-4.6.0-6].
  function inOrder(client: Client | null, work: Promise<void>): Promise<void> {
    if (!client) return work;
    const mine = (tails.get(client) ?? Promise.resolve()).then(() => work);
    tails.set(
      client,
      mine.catch(() => undefined),
    );
    return mine;
  }

  // A client's rate-limit waits end in arrival order: aedes hands over all packets of one
  // read at once, and a message that need not wait must still reach the sink after an
  // earlier one that does (per-device order matters to alarms: out of bed, back in bed).
  const paceTails = new WeakMap<Client, Promise<void>>();
  /** Connections being closed for staying over quota. */
  const overQuota = new WeakSet<Client>();
  /** Ends the waits of a connection that is gone: nothing holds a closed one's messages (or the broker's close) for their turn. */
  const gone = new WeakMap<Client, AbortController>();
  const goneSignal = (client: Client): AbortSignal => {
    let c = gone.get(client);
    if (!c) gone.set(client, (c = new AbortController()));
    return c.signal;
  };
  function paced(client: Client, waitMs: number): Promise<void> | undefined {
    const before = paceTails.get(client);
    if (before === undefined && waitMs <= 0) return undefined;
    const due = Date.now() + waitMs;
    const signal = goneSignal(client);
    const mine = (before ?? Promise.resolve()).then(() => {
      const left = due - Date.now();
      return left > 0
        ? sleep(left, undefined, { signal }).catch(() => Promise.reject(new Refused('connection closed while its message waited for its turn')))
        : undefined;
    });
    paceTails.set(client, mine);
    mine
      .finally(() => {
        if (paceTails.get(client) === mine) paceTails.delete(client);
      })
      .catch(() => undefined); // the publish that awaits it reports the failure
    return mine;
  }

  async function decidePublish(client: Client | null, packet: PublishPacket, receivedAt: number): Promise<void> {
    // aedes passes null only for a will left behind by another (dead) broker of a cluster
    // sharing persistence: its device cannot be told from the MQTT client id. This broker
    // checks every will at CONNECT and publishes its own with the client, so refuse.
    if (!client) {
      log.warn({ event: 'publish_refused', topic: clip(packet.topic), reason: 'will without a session' }, 'publish refused');
      throw new Refused('publish without a client session');
    }
    if (packet.topic.includes('\0')) {
      // [MQTT-1.5.3-2] MUST close; aedes itself would route such a topic.
      log.warn({ event: 'protocol_violation', clientId: clip(client.id), reason: 'NUL in topic' }, 'publish refused');
      throw new Refused('NUL in topic [MQTT-1.5.3-2]');
    }
    const principal = principalOf(client);
    // The one topic the service account writes: split ingest hands its commits to the
    // split API (kernel/committed-wire.ts). Routed by aedes like any QoS 1 publish, so
    // the API's persistent session keeps what it has not taken yet. Never retained: a
    // new session would be handed an old commit as if it were new.
    if (principal?.kind === 'service' && packet.topic === COMMITTED_TOPIC) {
      packet.retain = false;
      // aedes routes and stores the packet this hook was given, payload included.
      if (deps.redactCommitted) packet.payload = deps.redactCommitted(payloadOf(packet));
      return;
    }
    if (principal?.kind !== 'device') {
      log.warn(
        {
          event: 'publish_refused',
          clientId: clip(client.id),
          topic: clip(packet.topic),
          reason: principal ? 'the service account publishes only commits' : 'not authenticated',
        },
        'publish refused',
      );
      throw new Refused('not allowed to publish');
    }
    const { deviceId } = principal;
    if (deps.directory.activeSecretHash(deviceId) !== principal.secretHash) {
      // Deactivated or re-keyed since this connection logged in: no PUBACK, and the
      // connection goes; the device is refused at its next CONNECT.
      log.warn({ event: 'device_revoked', deviceId }, 'device deactivated or re-keyed since it connected; disconnecting');
      throw new Refused('device credentials no longer valid');
    }
    const { topic } = packet;
    const payload = payloadOf(packet);

    // Over its quota a device waits rather than loses messages (refused ones count too);
    // its waiting messages count as in flight, which holds its reads at a bound (in-flight.ts).
    // Over it for too long, it is disconnected without PUBACK and sends the message again.
    const { vendorId } = principal;
    if (overQuota.has(client)) throw new Refused('over quota'); // being disconnected already
    const verdict = quota.quotas.take(deviceId, vendorId, payload.length, quota.deviceQuota(principal.profileId));
    if (verdict.disconnect) {
      overQuota.add(client);
      gone.get(client)?.abort();
      log.warn({ event: 'quota_disconnect', deviceId, vendorId, over: verdict.over }, 'device stayed over its quota; disconnecting');
      throw new Refused(`over quota (${verdict.over})`);
    }
    if (verdict.started)
      log.warn(
        { event: 'quota_exceeded', deviceId, vendorId, over: verdict.over, waitMs: Math.round(verdict.waitMs) },
        'device over its quota; slowing it down',
      );
    await paced(client, verdict.waitMs);
    // Its messages that were waiting when the connection was cut go no further.
    if (overQuota.has(client)) throw new Refused('over quota');

    if (!principal.publishTopics.has(topic)) {
      log.warn({ event: 'topic_spoofing', deviceId, topic: clip(topic, maxTopicLength) }, 'device published on a topic that is not its own; disconnecting');
      await deps.reject?.(deviceId, topic.slice(0, maxTopicLength), 'TOPIC_NOT_ALLOWED', payload).catch((err: unknown) => {
        log.error({ err, deviceId }, 'could not record a TOPIC_NOT_ALLOWED rejection');
      });
      throw new Refused('topic not allowed');
    }

    if (payload.length > maxPayloadBytes) {
      log.warn({ event: 'payload_too_large', deviceId, topic, bytes: payload.length, maxPayloadBytes }, 'payload too large; recorded as rejected');
      // Acknowledged (a device would otherwise resend it forever) but never data: not kept
      // as retained, and authorizeForward drops it for every subscriber.
      packet.retain = false;
      // If recording fails the error disconnects without PUBACK; the device redelivers.
      await deps.reject?.(deviceId, topic, 'PAYLOAD_TOO_LARGE', payload);
      return;
    }

    // The acknowledgement waits for the commit: aedes writes PUBACK (QoS 1) / PUBREC
    // (QoS 2) only after this callback, so a store failure means no ack and a redelivery.
    await deps.sink?.({ deviceId, topic, payload, receivedAt });
  }

  /** A device hears only its own command topic; the service account device topics, the handoff and the commits. */
  function filterAllowed(client: Client, filter: string): boolean {
    const principal = principalOf(client);
    if (principal === undefined || filter.length > maxTopicLength) return false;
    if (principal.kind === 'device') return filter === principal.commandTopic;
    return topics.isPublishFilter(filter) || HANDOFF_FILTERS.has(filter) || filter === COMMITTED_TOPIC;
  }

  return {
    authorizePublish(client, packet, callback) {
      const end = client ? inFlight.begin(client) : () => undefined;
      const work = decidePublish(client, packet, Date.now());
      const tracked = work.catch(() => undefined);
      pending.add(tracked);
      void tracked.finally(() => pending.delete(tracked));
      inOrder(client, work).then(
        () => {
          end();
          callback(null);
        },
        (err: unknown) => {
          end();
          if (!(err instanceof Refused)) {
            log.error(
              { err, deviceId: deviceIdOf(client), clientId: clip(client?.id), topic: clip(packet.topic) },
              'ingest did not accept the message; disconnecting without ack',
            );
          }
          // Any error makes aedes close the connection without an acknowledgement.
          callback(err instanceof Error ? err : new Error(String(err)));
        },
      );
    },

    authorizeSubscribe(client, sub, callback) {
      // [MQTT-1.5.3-2] U+0000 in a filter: close the connection rather than refuse with 0x80.
      if (sub.topic.includes('\0')) {
        log.warn({ event: 'protocol_violation', clientId: clip(client.id), reason: 'NUL in topic filter' }, 'subscription refused');
        return callback(new Error('NUL in topic filter [MQTT-1.5.3-2]'));
      }
      const allowed = filterAllowed(client, sub.topic);
      if (!allowed) {
        log.warn({ event: 'subscribe_refused', clientId: clip(client.id), filter: clip(sub.topic, maxTopicLength) }, 'subscription refused');
      }
      // A null subscription is a refusal: SUBACK return code 0x80 [MQTT-3.9.3], the
      // connection stays up. (An error here would close it.)
      callback(null, allowed ? sub : null);
    },

    authorizeForward(client, packet) {
      const principal = principalOf(client);
      if (!principal) return null;
      if (principal.kind === 'device') return packet.topic === principal.commandTopic ? packet : null;
      if (packet.topic.startsWith(HANDOFF_PREFIX) || packet.topic === COMMITTED_TOPIC) return packet;
      return topics.isPublishTopic(packet.topic) && payloadOf(packet).length <= maxPayloadBytes ? packet : null;
    },

    filterAllowed,

    disconnected(client) {
      gone.get(client)?.abort();
    },

    async settled() {
      while (pending.size > 0) await Promise.all(pending);
    },
  };
}
