import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProfile, type ProfileSet } from '../../device-profiles/load.js';
import { shippedCatalogue } from '../../device-profiles/catalogue.js';
import { HubError } from '../../kernel/errors.js';
import { profileAlarmInfo } from '../../alarms/profile-info.js';
import { profiles } from './fixtures.js';

const limits = { skewMs: 1, maxPastMs: 1, maxFutureMs: 1 };
const roomSense = readFileSync('device-profiles/profiles/roomsense-3d/profile.yaml', 'utf8');
const withoutAlarms = roomSense.slice(0, roomSense.indexOf('# Entering or leaving the room'));

function refused(source: string): string {
  try {
    parseProfile(source, 'broken.yaml', limits);
  } catch (e) {
    expect(e).toBeInstanceOf(HubError);
    return (e as HubError).message;
  }
  return expect.fail('accepted');
}

describe('profiles declare their alarms (optional `alarms:` section)', () => {
  it('every shipped profile declares one', () => {
    for (const { profile } of profiles.decoders.values()) expect(profile.alarms, profile.id).toBeDefined();
    expect(profileAlarmInfo(profiles).get('roomsense-3d')).toMatchObject({
      expectedIntervalS: 60,
      offlineAfter: 3,
      events: new Set(['fall', 'left_bed', 'sat_up', 'long_stay', 'inactivity', 'no_contact']),
    });
  });
  it('without the section every event the catalogue gives an alarm opens one, offline after 3 intervals', () => {
    const decoder = parseProfile(withoutAlarms, 'old.yaml', limits);
    const set: ProfileSet = { decoders: new Map([[decoder.profile.id, decoder]]), catalogue: shippedCatalogue(), get: () => decoder };
    expect(profileAlarmInfo(set).get('roomsense-3d')).toEqual({
      family: 'fall-sensor',
      expectedIntervalS: 60,
      events: new Set([...shippedCatalogue().events.values()].filter((e) => e.alarm).map((e) => e.name)),
      offlineAfter: 3,
      batteryLowPct: 20,
    });
  });
  it('refuses an event the profile never produces, or one that opens no alarm in the catalogue', () => {
    expect(refused(`${withoutAlarms}alarms: { events: [jam] }\n`)).toMatch(
      /broken\.yaml: alarms\.events: lists an event that no entry of events\[\]\.map produces/,
    );
    expect(refused(`${withoutAlarms}alarms: { events: [entered_room] }\n`)).toMatch(
      /broken\.yaml: alarms\.events\[0\]: "entered_room" is not an event that opens an alarm in the catalogue/,
    );
    expect(refused(`${withoutAlarms}alarms: { offlineAfter: 0 }\n`)).toMatch(/broken\.yaml: alarms\.offlineAfter/);
  });
});
