import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Tests that start servers on loopback ports or spawn the hub run one file at a time
    // per worker; two workers match the two cores of the arena's reference machine.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});
