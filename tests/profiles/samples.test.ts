import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSample, folderDecoder, normalised, PROFILE_FOLDERS, sampleNames, type Expected } from './samples.js';

describe('every profile folder decodes its own samples to the expected normalised output', () => {
  it('covers the six shipped profiles and the examples', () => {
    expect(PROFILE_FOLDERS.length).toBeGreaterThanOrEqual(7);
  });
  for (const folder of PROFILE_FOLDERS) {
    it(folder, () => {
      const decoder = folderDecoder(folder);
      const names = sampleNames(folder);
      expect(names.length, `${folder}/samples`).toBeGreaterThan(0);
      for (const name of names) {
        const expected = JSON.parse(readFileSync(join(folder, 'samples', `${name}.expected.json`), 'utf8')) as Expected;
        const result = decodeSample(decoder, folder, name, expected);
        expect(
          { points: result.points.map(normalised), problems: result.problems.map(({ code, path }) => ({ code, path })) },
          `${folder}/samples/${name}`,
        ).toEqual({
          points: expected.points,
          problems: expected.problems.map(({ code, path }) => ({ code, path })),
        });
      }
    });
  }
});
