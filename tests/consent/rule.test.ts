import { describe, expect, expectTypeOf, it } from 'vitest';
import { releaseWindows, type ConsentScope } from '../../kernel/consent.js';
import type { ReleaseWindow } from '../../kernel/ports.js';
import { pseudonymiser, type Pseudonymiser } from '../../kernel/pseudonym.js';
import type { ConsentRecord } from '../../kernel/trials.js';

const period = { from: 100, to: 1000 };
const rec = (scope: ConsentScope, grantedAt: number, withdrawnAt: number | null = null, participantId = 'P'): ConsentRecord => ({
  id: `c-${grantedAt}`,
  participantId,
  scope,
  grantedAt,
  withdrawnAt,
  formVersion: 'v1',
  recordedAt: grantedAt,
});

describe('releaseWindows: the consent rule as windows of measurement time', () => {
  const cases: [string, ConsentRecord[], ReleaseWindow[]][] = [
    ['a grant runs from grantedAt to the end of the trial', [rec('research', 200)], [{ participantId: 'P', from: 200, to: 1000 }]],
    ['a grant before the trial starts with the trial', [rec('research', 50)], [{ participantId: 'P', from: 100, to: 1000 }]],
    ['a withdrawn consent releases nothing at all, also from before the withdrawal', [rec('research', 200, 300)], []],
    ['another scope does not count', [rec('vendor.telemetry', 200)], []],
    ['a grant after the trial gives nothing', [rec('research', 1000)], []],
    ['a grant in the future (as of now) gives nothing yet', [rec('research', 600)], []],
    [
      'a re-grant after a withdrawal covers only what follows it',
      [rec('research', 200, 300), rec('research', 400)],
      [{ participantId: 'P', from: 400, to: 1000 }],
    ],
  ];
  for (const [what, records, windows] of cases) {
    it(what, () => expect(releaseWindows(records, 'research', period, 500)).toEqual(windows));
  }
  it('honours a withdrawal after now as an end (the registry never records one)', () => {
    expect(releaseWindows([rec('research', 200, 800)], 'research', period, 500)).toEqual([{ participantId: 'P', from: 200, to: 800 }]);
  });
});

describe('pseudonyms', () => {
  const key = Buffer.alloc(32, 1);
  const p = pseudonymiser(key);
  expectTypeOf(p).toEqualTypeOf<Pseudonymiser>();

  it('are stable for one trial and audience, 80 bits of hex', () => {
    expect(p('T1', 'research', 'P-1')).toBe(p('T1', 'research', 'P-1'));
    expect(p('T1', 'research', 'P-1')).toMatch(/^[0-9a-f]{20}$/);
  });
  it('are unlinkable across trials, audiences and keys, and never contain the id', () => {
    const all = [
      p('T1', 'research', 'P-1'),
      p('T2', 'research', 'P-1'),
      p('T1', 'vendor.telemetry', 'P-1'),
      pseudonymiser(Buffer.alloc(32, 2))('T1', 'research', 'P-1'),
      p('T1', 'research', 'P-2'),
    ];
    expect(new Set(all).size).toBe(all.length);
    for (const x of all) expect(x).not.toContain('P-1');
  });
  it('refuse a short key', () => {
    expect(() => pseudonymiser(Buffer.alloc(16))).toThrow(/32 bytes/);
  });
});
