import '../kernel/runtime.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type AttackFigures, percentile, runApiAttacks, type Samples } from './api-attacks.js';

/**
 * `npm run build --silent && node dist/bench/api-load.js`: the API attacks (bench/api-attacks.ts)
 * with sizes of one's choosing, printed as text; asserts nothing. `npm run bench -- --only=api`
 * runs the same with targets.
 */
const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '400000' },
    aborted: { type: 'string', default: '300' },
    exports: { type: 'string', default: '8' },
    flood: { type: 'string', default: '3000' },
  },
});
const [rows, aborted, exports, flood] = [args.rows, args.aborted, args.exports, args.flood].map(Number) as [number, number, number, number];
if (![rows, aborted, exports, flood].every((n) => Number.isInteger(n) && n > 0 && n <= 5_000_000)) {
  console.error('usage: node dist/bench/api-load.js [--rows 400000] [--aborted 300] [--exports 8] [--flood 3000]');
  process.exit(2);
}

const ms = (v: number): string => `${v.toFixed(1)} ms`;
const summary = (xs: Samples): string => `n ${xs.length}, p50 ${ms(percentile(xs, 50))}, p99 ${ms(percentile(xs, 99))}, max ${ms(Math.max(...xs))}`;
const seen = (label: string, p: { health: Samples; puback: Samples }): string =>
  `  ${label}: /healthz ${summary(p.health)}; device PUBACK ${summary(p.puback)}`;

const dir = mkdtempSync(join(tmpdir(), 'arena-api-load-'));
try {
  const f: AttackFigures = await runApiAttacks({ dir, baseEnv: process.env, rows, aborted, exports, flood, say: (l) => console.log(l) });
  console.log(`\nwhat a ward and a device saw:`);
  console.log(seen('idle', f.idle));
  console.log(
    `  after ${aborted} dropped live requests: the hub at ${(f.dropped.cpuAfter * 100).toFixed(1)} % of a core (idle ${(f.idle.cpu * 100).toFixed(1)} %); a new stream's first bytes after ${ms(f.dropped.newStreamMs)}`,
  );
  console.log(seen(`${flood} requests from one token (${JSON.stringify(f.flood.statuses)})`, f.flood));
  console.log(seen(`${exports} parallel exports (${JSON.stringify(f.exports.statuses)}, peak RSS ${f.exports.peakRssMb.toFixed(0)} MB)`, f.exports));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
