import { readFileSync } from 'node:fs';
import type { Reading } from '../../kernel/telemetry.js';

/** Fixture payloads with their device time moved to `at`, so tests never depend on the date. */
export const FIXTURES: Record<string, { file: string; deviceId: string }> = {
  'roomsense-3d': { file: 'vendor-samples/roomsense-3d.ndjson', deviceId: 'RS3D-00421' },
  'bedwatch-senml': { file: 'vendor-samples/bedwatch-senml.ndjson', deviceId: 'BW-1182' },
  dosebox: { file: 'vendor-samples/dosebox.ndjson', deviceId: 'DB-0077' },
  aquascale: { file: 'vendor-samples/aquascale.ndjson', deviceId: 'AQ-3001' },
  'medimate-senml': { file: 'medimate-senml.ndjson', deviceId: 'MM-204' },
  'vekta-senml': { file: 'vekta-senml.ndjson', deviceId: 'VK-77' },
};

export function fixtureLines(profileId: string): string[] {
  return readFileSync(`tests/fixtures/${FIXTURES[profileId]!.file}`, 'utf8').trim().split('\n');
}

type Json = Record<string, unknown>;

export function retime(line: string, at: number): string {
  const v = JSON.parse(line) as Json | Json[];
  if (Array.isArray(v)) {
    v[0]!.bt = at / 1000;
    return JSON.stringify(v);
  }
  if ('time' in v) v.time = at;
  if ('ts' in v) v.ts = new Date(at).toISOString();
  if ('scheduled' in v) v.scheduled = new Date(at).toISOString();
  if ('measured_at' in v) v.measured_at = new Date(at).toISOString();
  return JSON.stringify(v);
}

/**
 * A body-weight reading of scale AQ-1 (aquascale) in site-a/room-1, the API fixture's
 * world, received 100 ms after `deviceTime`: 81.5 kg with no trial or participant
 * unless `o` says otherwise.
 */
export function weightReading(messageId: bigint, deviceTime: number, o: Partial<Reading> = {}): Reading {
  return {
    kind: 'reading',
    messageId,
    seq: 0,
    deviceId: 'AQ-1',
    profileId: 'aquascale',
    family: 'fluid-balance',
    siteId: 'site-a',
    roomId: 'room-1',
    trialId: null,
    participantId: null,
    name: 'body_weight',
    deviceTime,
    receivedAt: deviceTime + 100,
    clockSkewed: false,
    value: 81.5,
    unit: 'kg',
    ...o,
  };
}
