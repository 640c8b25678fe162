/**
 * A profile written for these tests, not one of the shipped ones: FlowPatch, a wearable
 * patch that reports each drink's volume with a time in epoch seconds. Version 1.1.0
 * changes the unit (decilitres, as the vendor's newer firmware sends) and adds a topic.
 */
export const flowpatch = (version: '1.0.0' | '1.1.0'): string => `# FlowPatch: wearable fluid-intake patch, vendor JSON.
id: flowpatch
version: ${version}
family: fluid-balance
vendor: FlowPatch
model: FP-2 wearable patch
description: One message per drink; time in epoch seconds.
topics: [${version === '1.0.0' ? '"arena/{deviceId}/flow"' : '"arena/{deviceId}/flow", "arena/{deviceId}/flow2"'}]
format: json
expectedIntervalS: 3600
deviceIdPath: dev
time: { path: ts, format: epoch_s }
payload:
  type: object
  required: [dev, ts, volume]
  properties:
    dev: { type: string }
    ts: { type: number }
    volume: { type: number, minimum: 0 }
readings:
  - measurement: fluid_intake
    value: volume
    unit: ${version === '1.0.0' ? 'mL' : 'dL'}
alarms:
  events: []
`;

/**
 * Problems of two stages, all reported at once: the language's (a version that is not
 * x.y.z, no time rule) and the catalogue's (a family and a measurement it does not know).
 */
export const BROKEN = `id: flowpatch
version: one
family: toaster
vendor: FlowPatch
model: FP-2
topics: ["arena/{deviceId}/flow"]
format: json
expectedIntervalS: 3600
payload: { type: object }
readings:
  - measurement: not_a_measurement
    value: volume
    unit: mL
`;

/** A message of either version: `volume` in the profile's unit, `ts` in epoch seconds. */
export const drink = (deviceId: string, volume: number, at = Date.now()): string => JSON.stringify({ dev: deviceId, ts: Math.floor(at / 1000), volume });
