import { percentile, runApiAttacks } from '../api-attacks.js';
import type { Row, Section, Target } from './types.js';

/** The bounds: a ward's health check and a device's PUBACK stay answered while the API is attacked. */
const HEALTH_P99: Target = { better: 'lower', goal: 100, limit: 250, on: 'value', unit: 'ms' };
const PUBACK_P99: Target = { better: 'lower', goal: 100, limit: 500, on: 'value', unit: 'ms' };
const STOP_MS: Target = { better: 'lower', goal: 5000, limit: 10_000, on: 'value', unit: 'ms' };

/**
 * 8. The API under attack (bench/api-attacks.ts): /healthz and a device's PUBACK p99
 * during a flood from one token and during parallel exports, against the same probes on
 * the idle hub; CPU after dropped live requests against idle; SIGTERM with streams open.
 */
export const apiSection: Section = {
  id: 'api',
  title: 'API under attack',
  async run(ctx, config) {
    await ctx.hubQuiet(); // the earlier sections' hub must not load the machine meanwhile
    const f = await runApiAttacks({
      dir: ctx.dir('api'),
      baseEnv: { ...config.baseEnv, ...config.hubEnv }, // --hub-env reaches this section's hub too
      rows: config.quick ? 100_000 : 400_000,
      aborted: 300,
      exports: 8,
      flood: 3000,
      say: (l) => console.log(`[bench]   ${l}`),
    });
    const p99 = (xs: number[]) => percentile(xs, 99);
    const statuses = (s: Record<string, number>) =>
      Object.entries(s)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ');
    const lag = (ms: number) => `the generator's own event loop delay p99 ${ms.toFixed(0)} ms meanwhile`;
    const rows: Row[] = [
      {
        section: 'api',
        figure: `/healthz p99 during ${3000} requests from one token (${statuses(f.flood.statuses)})`,
        value: p99(f.flood.health),
        unit: 'ms',
        baseline: { label: '/healthz p99 idle', value: p99(f.idle.health) },
        target: HEALTH_P99,
        note: lag(f.flood.generatorLagP99Ms),
      },
      {
        section: 'api',
        figure: `/healthz p99 during 8 parallel exports of ${f.seededRows} rows (${statuses(f.exports.statuses)})`,
        value: p99(f.exports.health),
        unit: 'ms',
        baseline: { label: '/healthz p99 idle', value: p99(f.idle.health) },
        target: HEALTH_P99,
        note: lag(f.exports.generatorLagP99Ms),
      },
      {
        section: 'api',
        figure: 'device PUBACK p99 during the flood',
        value: p99(f.flood.puback),
        unit: 'ms',
        baseline: { label: 'PUBACK p99 idle', value: p99(f.idle.puback) },
        target: PUBACK_P99,
        note: lag(f.flood.generatorLagP99Ms),
      },
      {
        section: 'api',
        figure: 'device PUBACK p99 during the exports',
        value: p99(f.exports.puback),
        unit: 'ms',
        baseline: { label: 'PUBACK p99 idle', value: p99(f.idle.puback) },
        target: PUBACK_P99,
        note: lag(f.exports.generatorLagP99Ms),
      },
      {
        section: 'api',
        figure: `hub CPU 5 s after 300 live requests dropped at 50 ms (${statuses(f.dropped.statuses)})`,
        value: f.dropped.cpuAfter * 100,
        unit: '% of a core',
        baseline: { label: 'idle', value: f.idle.cpu * 100 },
      },
      {
        section: 'api',
        figure: `SIGTERM to exit with ${f.sigterm.streams} live streams open (exit ${f.sigterm.exit})`,
        value: f.sigterm.ms,
        unit: 'ms',
        target: STOP_MS,
      },
    ];
    return { rows, details: { ...f } };
  },
};
