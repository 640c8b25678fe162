/**
 * What the broker sees of a device's MQTT session, beyond its messages' payloads: the
 * flags a conformance run judges (keepalive, last will, QoS, DUP) and how connections end.
 */
export interface DeviceConnect {
  readonly deviceId: string;
  readonly clientId: string;
  readonly at: number;
  /** [MQTT-3.1.2-24] seconds; 0 = the device asked for no keepalive. */
  readonly keepaliveS: number;
  readonly clean: boolean;
  /** [MQTT-3.1.2-9] the will the device declared, if any. */
  readonly will: { readonly topic: string; readonly qos: number; readonly retain: boolean } | null;
}

export interface DevicePublish {
  readonly deviceId: string;
  readonly topic: string;
  readonly qos: number;
  /** [MQTT-3.3.1-1] the device says this is a redelivery of an earlier attempt. */
  readonly dup: boolean;
  readonly retain: boolean;
  readonly bytes: number;
  readonly at: number;
}

/**
 * How a connection ended: `disconnect` the device sent DISCONNECT (its will is dropped,
 * [MQTT-3.14.4-3]); `keepalive` it fell silent past 1.5 × its keepalive ([MQTT-3.1.2-24]);
 * `error` a protocol or network error; `closed` the network connection just went. In
 * the last three, its will (if any) is published ([MQTT-3.1.2-8]).
 */
export type DisconnectCause = 'disconnect' | 'keepalive' | 'error' | 'closed';

export interface DeviceDisconnect {
  readonly deviceId: string;
  readonly at: number;
  /** When the connection that ended was made: a session taken over by a newer connection of the device ends after the newer one began. */
  readonly connectedAt: number | null;
  readonly cause: DisconnectCause;
}

/** Told by the broker of every device connection, publish and disconnection. Must not throw or block. */
export interface DeviceTraffic {
  connected(c: DeviceConnect): void;
  published(p: DevicePublish): void;
  disconnected(d: DeviceDisconnect): void;
}
