/**
 * A profile written for the conformance tests: Beacon, a scale that reports a weight and
 * its battery every second, so that a run of a few seconds sees several intervals.
 */
export const BEACON = `id: beacon
version: 1.0.0
family: fluid-balance
vendor: Beacon Devices
model: Beacon test scale
topics: ["devices/{deviceId}/data"]
format: json
expectedIntervalS: 1
time: { path: t, format: epoch_ms }
payload:
  type: object
  required: [t, w]
  properties:
    t: { type: number }
    w: { type: number }
    bat: { type: number }
readings:
  - measurement: body_weight
    value: w
    unit: kg
  - measurement: battery_level
    value: bat
    unit: "%"
alarms:
  events: []
  offlineAfter: 3
`;
