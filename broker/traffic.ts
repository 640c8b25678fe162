import type { Aedes, Client, ConnectPacket, PublishPacket } from 'aedes';
import type { DeviceTraffic, DisconnectCause } from '../kernel/device-traffic.js';
import { sentDisconnect } from './aedes-compat.js';
import type { BrokerPrincipal } from './authenticate.js';

/**
 * Tells `traffic` (conformance runs) of every device's sessions and publishes, from the
 * aedes events and the CONNECT packet the authenticator kept. Returns the hook for each
 * publish, which the broker calls before deciding it: the device's own QoS and DUP flags.
 */
export function watchTraffic(
  aedes: Aedes,
  principalOf: (client: Client) => BrokerPrincipal | undefined,
  connectOf: (client: Client) => ConnectPacket | undefined,
  traffic: DeviceTraffic,
): (client: Client | null, packet: PublishPacket) => void {
  const deviceOf = (client: Client | null): string | undefined => {
    const p = client ? principalOf(client) : undefined;
    return p?.kind === 'device' ? p.deviceId : undefined;
  };
  const causes = new WeakMap<Client, DisconnectCause>();
  const connectedAt = new WeakMap<Client, number>();
  aedes.on('client', (client) => {
    const deviceId = deviceOf(client);
    const packet = connectOf(client);
    if (deviceId === undefined || !packet) return;
    const will = packet.will ? { topic: packet.will.topic, qos: packet.will.qos ?? 0, retain: packet.will.retain ?? false } : null;
    const at = Date.now();
    connectedAt.set(client, at);
    traffic.connected({ deviceId, clientId: client.id, at, keepaliveS: packet.keepalive ?? 0, clean: packet.clean !== false, will });
  });
  aedes.on('keepaliveTimeout', (client) => causes.set(client, 'keepalive'));
  aedes.on('clientError', (client) => {
    if (!causes.has(client)) causes.set(client, 'error');
  });
  aedes.on('clientDisconnect', (client) => {
    const deviceId = deviceOf(client);
    if (deviceId === undefined) return;
    traffic.disconnected({
      deviceId,
      at: Date.now(),
      connectedAt: connectedAt.get(client) ?? null,
      cause: sentDisconnect(client) ? 'disconnect' : (causes.get(client) ?? 'closed'),
    });
  });
  return (client, packet) => {
    const deviceId = deviceOf(client);
    if (deviceId === undefined) return;
    traffic.published({ deviceId, topic: packet.topic, qos: packet.qos, dup: packet.dup, retain: packet.retain, bytes: packet.payload.length, at: Date.now() });
  };
}
