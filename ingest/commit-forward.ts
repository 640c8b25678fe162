import type { MqttClient } from 'mqtt';
import { connectServiceClient, type ServiceTls } from '../service/mqtt-client.js';
import { COMMITTED_TOPIC, encodeCommitted, type CommittedDelivery } from '../kernel/committed-wire.js';
import type { Logger } from '../kernel/log.js';
import type { Decided } from './pipeline.js';

/**
 * Split layout: ingest's side of kernel/committed-wire.ts. After each commit the points
 * of the committed messages go to the broker at QoS 1 on COMMITTED_TOPIC, for the API's
 * alarm engine and live streams (the all-in-one hub hands them over in-process).
 *
 * Ingest never waits for this. The commit listener only queues; encoding and publishing
 * run on a later turn (setImmediate), after the commit's own acknowledgements have gone
 * out. What is published but not yet acknowledged by the broker (PUBACK), or waits for
 * a connection in mqtt.js's outgoing store, is bounded by `maxBufferBytes`; past it, a
 * forward is dropped and counted, never held. The broker queues each forward in the
 * API's persistent session before its PUBACK, so what the broker has acknowledged
 * survives an API restart; what is dropped here, or still in this process when it dies,
 * is only judged when the API next starts and replays recent telemetry from the store.
 */
export interface CommitForwardOptions {
  readonly url: string;
  readonly tls?: ServiceTls | undefined;
  readonly username: string;
  readonly password: string;
  readonly clientId: string;
  readonly maxBufferBytes: number;
  readonly logger: Logger;
  readonly reconnectMs?: number;
}

/** Counted in points. */
export interface CommitForwardStats {
  /** Acknowledged by the broker. */
  readonly forwarded: number;
  /** Given up: over the buffer, too large for a forward, or unacknowledged at stop. */
  readonly dropped: number;
  readonly bufferedBytes: number;
}

export interface CommitForward {
  /** Ingest's commit listener; returns at once. */
  forward(committed: readonly Decided[]): void;
  stats(): CommitForwardStats;
  /** Publishes what is queued and waits up to graceMs for the broker's acknowledgements, then disconnects. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Largest payload of one forward. The broker closes a connection whose packet is over
 * MQTT_MAX_PACKET_BYTES (256 KiB by default; broker/frame-guard.ts), so this stays well
 * under it; a commit of many messages becomes several publishes.
 */
const MAX_PAYLOAD_BYTES = 64 * 1024;
/** At most one warning about drops this often; the counter says how many. */
const DROP_LOG_INTERVAL_MS = 10_000;

export function startCommitForward(o: CommitForwardOptions): CommitForward {
  const log = o.logger.child({ component: 'ingest-forward' });
  // A publisher only: nothing for the broker to keep. mqtt.js resends its own
  // unacknowledged QoS 1 publishes after a reconnect.
  const client: MqttClient = connectServiceClient({
    url: o.url,
    tls: o.tls,
    clientId: o.clientId,
    clean: true,
    username: o.username,
    password: o.password,
    reconnectMs: o.reconnectMs,
  });
  client.on('connect', () => log.info({ event: 'forward_connected', clientId: o.clientId }, 'commit forward connected'));
  client.on('error', (err) => log.warn({ event: 'forward_error', reason: err.message }, 'commit forward error'));
  client.on('offline', () => log.warn({ event: 'forward_offline' }, 'commit forward lost its broker; reconnecting'));

  let queued: CommittedDelivery[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  let forwarded = 0;
  let dropped = 0;
  let bufferedBytes = 0;
  let lastDropLog = 0;
  let stopping = false;
  const inFlight = new Set<Promise<void>>();

  function drop(points: number, reason: string): void {
    dropped += points;
    const now = Date.now();
    if (now - lastDropLog < DROP_LOG_INTERVAL_MS) return;
    lastDropLog = now;
    log.warn(
      { event: 'forward_dropped', reason, dropped, bufferedBytes, maxBufferBytes: o.maxBufferBytes },
      'commits not forwarded to the API; it judges them when it next replays the store',
    );
  }

  function publish(): void {
    scheduled = undefined;
    const deliveries = queued;
    queued = [];
    const { payloads, oversized } = encodeCommitted(deliveries, MAX_PAYLOAD_BYTES);
    if (oversized > 0) drop(oversized, 'a point is larger than one forward');
    for (const { body, points: count } of payloads) {
      if (bufferedBytes + body.length > o.maxBufferBytes) {
        drop(count, 'forward buffer full (the broker is slow or unreachable)');
        continue;
      }
      bufferedBytes += body.length;
      const done = new Promise<void>((resolve) => {
        client.publish(COMMITTED_TOPIC, body, { qos: 1 }, (err) => {
          bufferedBytes -= body.length;
          if (err) drop(count, err.message);
          else forwarded += count;
          resolve();
        });
      });
      inFlight.add(done);
      void done.then(() => inFlight.delete(done));
    }
  }

  return {
    forward(committed) {
      if (stopping) return;
      for (const d of committed) if (d.points.length > 0) queued.push({ messageId: d.id, points: d.points });
      if (queued.length > 0) scheduled ??= setImmediate(publish);
    },
    stats: () => ({ forwarded, dropped, bufferedBytes }),
    async stop(graceMs = 5000) {
      stopping = true;
      if (scheduled) {
        clearImmediate(scheduled);
        publish();
      }
      const settled = Promise.all(inFlight).then(() => true);
      const timer = new Promise<false>((resolve) => setTimeout(() => resolve(false), graceMs).unref());
      const all = await Promise.race([settled, timer]);
      // Without every PUBACK, end(false) would wait for them indefinitely.
      await new Promise<void>((resolve) => client.end(!all, {}, () => resolve()));
      log.info({ event: 'forward_stopped', forwarded, dropped }, 'commit forward stopped');
    },
  };
}
