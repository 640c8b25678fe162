import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { profileReference } from '../../device-profiles/reference.js';

describe('docs/profile-reference.md', () => {
  it('is what the profile schema generates (regenerate: node dist/device-profiles/reference.js > docs/profile-reference.md)', () => {
    const generated = profileReference();
    expect(readFileSync('docs/profile-reference.md', 'utf8')).toBe(generated);
    for (const field of ['records.path', 'shapes[].when', 'readings[].scale', 'time.zone', 'unmapped']) expect(generated).toContain(`| \`${field}\` |`);
  });
});
