/**
 * What the simulated devices send: RoomSense 3D messages (device-profiles/profiles/
 * roomsense-3d.yaml), the profile whose fall events drive the ward board.
 *
 * A message id is a hash of device, topic and bytes (kernel/message-id.ts), so every
 * payload must be unique or the store would count it as a redelivery. The status
 * heartbeat carries `uptime_s = phase * 1e8 + seq`: unique per device, and after the run
 * the stored `device_uptime` readings tell which phase each message belonged to.
 */
export const PROFILE_ID = 'roomsense-3d';
export const PHASE_STRIDE = 100_000_000;

export const topicOf = (deviceId: string): string => `devices/${deviceId}/events`;

export const heartbeat = (deviceId: string, phase: number, seq: number, at: number): string =>
  `{"sensor":"${deviceId}","time":${at},"fw":"bench","status":{"mains":true,"temp_c":21.5,"uptime_s":${phase * PHASE_STRIDE + seq}}}`;

export const fall = (deviceId: string, at: number): string =>
  `{"sensor":"${deviceId}","time":${at},"fw":"bench","event":{"type":"FALL_DETECTED","confidence":0.94,"zone":"floor-bedside"}}`;

/** Points a heartbeat is stored as (mains_power, device_temperature, device_uptime). */
export const POINTS_PER_HEARTBEAT = 3;

/** Phase numbers encoded in heartbeats. */
export const PHASES = { throughput: 1, latency: 2, overload: 3, memory: 4 } as const;
