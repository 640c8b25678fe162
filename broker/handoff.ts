import type { Aedes } from 'aedes';
import { encodeHandoff, handoffTopic, type HandoffKind } from '../kernel/handoff.js';
import { HubError } from '../kernel/errors.js';
import type { MessageSink } from '../kernel/ports.js';
import type { AedesPersistence, RejectSink } from './types.js';

/**
 * Split layout: the broker's sink and reject. Each republishes the device's message at
 * QoS 1 on its handoff topic (kernel/handoff.ts). aedes's publish resolves only after
 * the message is queued in the persistence for every persistent session subscribed to
 * it (aedes.js enqueueOffline, before it is emitted to connected clients), so the
 * device's PUBACK, which waits for this, follows a durable copy.
 *
 * With no persistent subscriber the message would go nowhere, so it is refused instead:
 * the device gets no PUBACK and sends it again later. Only the service account may
 * subscribe to handoff topics (authorize.ts), so any subscriber found is ingest.
 */
export interface Handoff {
  readonly sink: MessageSink;
  readonly reject: RejectSink;
}

export function createHandoff(aedes: Aedes, persistence: AedesPersistence): Handoff {
  async function handOff(kind: HandoffKind, deviceId: string, topic: string, payload: Buffer, receivedAt: number): Promise<void> {
    const target = handoffTopic(deviceId);
    const durable = (await persistence.subscriptionsByTopic(target)).some((s) => s.qos > 0);
    if (!durable) throw new HubError('STORE_UNAVAILABLE', `no persistent ingest session subscribes to ${target}; not acknowledging`);
    const body = encodeHandoff({ kind, deviceId, topic, payload, receivedAt });
    await new Promise<void>((resolve, reject) =>
      aedes.publish({ cmd: 'publish', topic: target, payload: body, qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  return {
    sink: (m) => handOff('message', m.deviceId, m.topic, m.payload, m.receivedAt),
    reject: (deviceId, topic, code, payload) => handOff(code, deviceId, topic, payload, Date.now()),
  };
}
