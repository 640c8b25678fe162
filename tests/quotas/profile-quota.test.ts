import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseProfile } from '../../device-profiles/load.js';
import { loadIngestConfig } from '../../ingest/config.js';

/** A profile's own quota (its `quota:` section, device-profiles/schema.ts): values checked at load. */
const limits = loadIngestConfig({}).limits;
const aquascale = readFileSync('device-profiles/profiles/aquascale/profile.yaml', 'utf8');

describe('a profile quota section', () => {
  it('is read with the profile; values left out stay the broker defaults', () => {
    const d = parseProfile(`${aquascale}\nquota:\n  bytesPerSecond: 4096\n  byteBurst: 65536\n`, 'aquascale.yaml', limits);
    expect(d.profile.quota).toEqual({ bytesPerSecond: 4096, byteBurst: 65536 });
    expect(parseProfile(aquascale, 'aquascale.yaml', limits).profile.quota).toBeUndefined();
  });

  it('refuses unknown keys and values that are not positive', () => {
    for (const bad of ['quota:\n  bytesPerSec: 10\n', 'quota:\n  messagesPerSecond: 0\n', 'quota:\n  messageBurst: 1.5\n']) {
      expect(() => parseProfile(`${aquascale}\n${bad}`, 'aquascale.yaml', limits)).toThrow(/quota/);
    }
  });
});
