import { parseArgs } from 'node:util';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root, from dist/bench/ (how `npm run bench` runs it). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const DIST = resolve(ROOT, 'dist');

export const SECTION_IDS = ['ingest', 'latency', 'memory', 'overload', 'export', 'rules', 'api', 'history'] as const;
export type SectionId = (typeof SECTION_IDS)[number];

/**
 * Run sizes. The full run must finish in under 5 minutes on 2 cores; --quick in about
 * one. Device creation and CONNECT each cost one scrypt hash (~40-80 ms of CPU), so the
 * device count dominates set-up.
 */
export interface BenchConfig {
  readonly quick: boolean;
  readonly sections: readonly SectionId[];
  readonly devices: number;
  /** Messages each device publishes in the throughput phase (same count for every broker). */
  readonly messagesPerDevice: number;
  /** QoS 1 messages a connection may have unacknowledged in the throughput phase. */
  readonly window: number;
  readonly latencyRate: number;
  readonly latencySeconds: number;
  /** Falls per second published during the latency phase (fall → live). */
  readonly fallRate: number;
  readonly overloadFactor: number;
  readonly overloadSeconds: number;
  /** After the overload, how long outstanding acks may take before they count as lost. */
  readonly drainTimeoutSeconds: number;
  readonly exportRows: number;
  /** History sizes of the history section, each against the empty store of the same run. */
  readonly historyRows: readonly number[];
  readonly mosquitto: boolean;
  /** CPU-profile the hub's main thread during the hub throughput phase. */
  readonly profile: boolean;
  readonly keepData: boolean;
  /** Extra environment for the hub child, to try a setting (e.g. NODE_OPTIONS, INGEST_MAX_BATCH). */
  readonly hubEnv: Readonly<Record<string, string>>;
  /** A section that would start after this many seconds is skipped. */
  readonly budgetSeconds: number;
  readonly outFile: string;
  /** Environment the children inherit (PATH and the like); the only read of process.env. */
  readonly baseEnv: Readonly<Record<string, string | undefined>>;
}

const HELP = `npm run bench -- [options]
  --quick              ~60 s run: 200 devices, shorter phases, 500k export rows
  --only=a,b           sections to run: ${SECTION_IDS.join(', ')}
  --devices=N          simulated devices (one MQTT connection each)
  --export-rows=N      readings in the seeded trial
  --history-rows=N,M   history sizes of the history section, each seeded anew (default 10M, quick 2M)
  --no-mosquitto       skip the mosquitto baseline even if installed
  --profile            CPU-profile the hub during the throughput phase (data/bench/)
  --hub-env=K=V        extra hub environment, repeatable (e.g. NODE_OPTIONS=--max-old-space-size=128)
  --budget=SECONDS     skip sections that would start later (default 270, quick 150)
  --keep               keep the bench data folders
  --out=FILE           JSON results (default data/bench/latest.json)`;

const positive = (name: string, v: string | undefined, fallback: number): number => {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive whole number, got "${v}"`);
  return n;
};

export function loadBenchConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): BenchConfig | 'help' {
  const { values: a } = parseArgs({
    args: [...argv],
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      devices: { type: 'string' },
      'export-rows': { type: 'string' },
      'history-rows': { type: 'string' },
      'no-mosquitto': { type: 'boolean', default: false },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'hub-env': { type: 'string', multiple: true },
      budget: { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (a.help) return 'help';
  const sections = a.only === undefined ? [...SECTION_IDS] : a.only.split(',').map((s) => s.trim());
  for (const s of sections) if (!(SECTION_IDS as readonly string[]).includes(s)) throw new Error(`unknown section "${s}"; known: ${SECTION_IDS.join(', ')}`);
  const quick = a.quick;
  const hubEnv: Record<string, string> = {};
  for (const kv of a['hub-env'] ?? []) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new Error(`--hub-env takes KEY=VALUE, got "${kv}"`);
    hubEnv[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return Object.freeze({
    quick,
    sections: sections as SectionId[],
    devices: positive('devices', a.devices, quick ? 200 : 1000),
    messagesPerDevice: 60,
    window: 4,
    latencyRate: 2000,
    latencySeconds: quick ? 6 : 15,
    fallRate: 20,
    overloadFactor: 2,
    overloadSeconds: quick ? 5 : 10,
    drainTimeoutSeconds: quick ? 30 : 60,
    exportRows: positive('export-rows', a['export-rows'], quick ? 500_000 : 2_000_000),
    historyRows:
      a['history-rows'] === undefined ? [quick ? 2_000_000 : 10_000_000] : a['history-rows'].split(',').map((v) => positive('history-rows', v.trim(), 0)),
    mosquitto: !a['no-mosquitto'],
    profile: a.profile,
    keepData: a.keep,
    hubEnv,
    budgetSeconds: positive('budget', a.budget, quick ? 150 : 270),
    outFile: resolve(ROOT, a.out ?? 'data/bench/latest.json'),
    baseEnv: env,
  });
}

export const usage = (): string => HELP;
