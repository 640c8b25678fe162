import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { rmSync } from 'node:fs';
import { DIST } from '../config.js';
import { type HubRun, hubWithHistory } from '../history-hub.js';
import type { Row, Section, Target } from './types.js';

/** Issue 24: within 10 % of the store without history (ratios against it). */
const FLAT_HIGHER: Target = { better: 'higher', goal: 0.9, limit: 0.5, on: 'ratio', unit: '×' };
const FLAT_LOWER: Target = { better: 'lower', goal: 1.1, limit: 1.5, on: 'ratio', unit: '×' };
/** Issue 24, item 3: bytes on disk per point within 2x of the same rows as Parquet (zstd). */
const COMPACT: Target = { better: 'lower', goal: 2, limit: 3, on: 'ratio', unit: '×' };
const MEMORY_LIMIT = '64MB';
const MESSAGES = 50_000;
/** Seeded readings a second (200 devices): one participant-week is 2.4 M of them. */
const RATE_PER_S = 4;
const WEEK_ROWS = RATE_PER_S * 8 * 86_400;

interface Run {
  readonly stored: number;
  readonly messagesPerS?: number;
  readonly cpuUsPerMessage?: number;
  readonly peakRssMb?: number;
  readonly seedSeconds?: number;
  readonly written?: number;
  readonly latestReadingsMs?: number;
  readonly boardReadingsMs?: number;
  readonly exported?: { ms: number; rows: number };
  readonly bytesPerPoint?: number;
  readonly parquetBytesPerPoint?: number;
  readonly fileMb?: number;
  readonly error?: string;
  /** The all-in-one hub on the same file afterwards (bench/history-hub.ts). */
  hub?: HubRun | { error: string };
}

/** The hub's paced load on each history: 200 devices, QoS 1 heartbeats. */
const HUB_RATE = 500;
const HUB_SECONDS = 30;

/**
 * The store with history: bench/history-store.ts in a fresh process per size: empty,
 * eight days (the smallest history holding the exported participant-week), then
 * `historyRows` readings seeded in SQL. Each writes 50 000 messages through
 * store.write() in the hub's batch size at a 64MB memory limit, reads latest values,
 * exports a participant-week and measures its file against Parquet.
 */
export const historySection: Section = {
  id: 'history',
  title: 'history: the DuckDB store with history seeded',
  async run(ctx, config) {
    const runOnce = async (stored: number, withHub = false): Promise<Run> => {
      const dir = join(ctx.runDir, `history-${stored}`);
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          join(DIST, 'bench/history-store.js'),
          ...['--stored', String(stored), '--messages', String(MESSAGES), '--memory', MEMORY_LIMIT, '--rate', String(RATE_PER_S)],
          ...['--dir', dir],
          ...(withHub ? ['--keep'] : []),
        ],
        { env: { ...config.baseEnv }, maxBuffer: 1 << 20 },
      );
      const run = JSON.parse(stdout.trim().split('\n').pop()!) as Run;
      if (withHub) {
        run.hub = await hubWithHistory({
          dataDir: dir,
          runDir: ctx.runDir,
          memoryLimit: MEMORY_LIMIT,
          rate: HUB_RATE,
          seconds: HUB_SECONDS,
          baseEnv: config.baseEnv,
        }).catch((e: unknown) => ({ error: (e as Error).message }));
        rmSync(dir, { recursive: true, force: true });
      }
      return run;
    };
    const empty = await runOnce(0, true);
    const week = await runOnce(WEEK_ROWS);
    const sized: Record<string, Run> = {};
    const rows: Row[] = [];
    for (const stored of config.historyRows) {
      const full = await runOnce(stored, true);
      sized[String(stored)] = full;
      rows.push(...rowsFor(full, empty, week));
    }
    return { rows, details: { empty, week, sized } };
  },
};

function rowsFor(full: Run, empty: Run, week: Run): Row[] {
  const label = full.stored >= 1e6 ? `${(full.stored / 1e6).toFixed(0)} M stored` : `${(full.stored / 1e3).toFixed(0)} k stored`;
  const failed = full.error ? `n/a (${full.written ?? 0} written, then: ${full.error})` : undefined;
  const versus = (figure: string, unit: string, value: number | undefined, base: number | undefined, target: Target, note?: string): Row => ({
    section: 'history',
    figure,
    value: failed ? null : (value ?? null),
    unit,
    baseline: { label: 'empty store', value: base ?? null },
    target,
    ...(failed || note ? { note: failed ?? note } : {}),
  });
  return [
    versus(
      `store.write, 125-message batches, ${label} vs empty (${MEMORY_LIMIT})`,
      'msg/s',
      full.messagesPerS,
      empty.messagesPerS,
      FLAT_HIGHER,
      `seeded in ${full.seedSeconds} s; ${full.fileMb} MB file`,
    ),
    {
      section: 'history',
      figure: `CPU per message, ${label} vs empty`,
      value: failed ? null : (full.cpuUsPerMessage ?? null),
      unit: 'µs',
      baseline: { label: 'empty store', value: empty.cpuUsPerMessage ?? null },
    },
    versus(`peak RSS while writing and reading, ${label} vs empty`, 'MB', full.peakRssMb, empty.peakRssMb, FLAT_LOWER),
    versus(`a device's newest 100 readings, ${label} vs empty`, 'ms', full.latestReadingsMs, empty.latestReadingsMs, FLAT_LOWER),
    versus(`the ward board's latest readings of a device, ${label} vs empty`, 'ms', full.boardReadingsMs, empty.boardReadingsMs, FLAT_LOWER),
    {
      section: 'history',
      figure: `participant-week export (Parquet, ${full.exported?.rows ?? '?'} rows), ${label} vs 8 days stored`,
      value: failed ? null : (full.exported?.ms ?? null),
      unit: 'ms',
      baseline: { label: '8 days stored', value: week.exported?.ms ?? null },
      target: FLAT_LOWER,
    },
    {
      section: 'history',
      figure: `bytes on disk per point, ${label}, vs the same points as Parquet (zstd)`,
      value: failed ? null : (full.bytesPerPoint ?? null),
      unit: 'B',
      baseline: { label: 'Parquet zstd', value: full.parquetBytesPerPoint ?? null },
      target: COMPACT,
    },
    ...hubRows(full, empty, label),
  ];
}

/** Issue 24 item 2: PUBACK p99, RSS and CPU of the real hub within 10 % of the empty store's. */
function hubRows(full: Run, empty: Run, label: string): Row[] {
  const hub = full.hub && !('error' in full.hub) ? full.hub : undefined;
  const base = empty.hub && !('error' in empty.hub) ? empty.hub : undefined;
  const failed = hub ? undefined : `n/a (${full.hub && 'error' in full.hub ? full.hub.error : 'not run'})`;
  const row = (figure: string, unit: string, pick: (r: HubRun) => number, target?: Target, note?: string): Row => ({
    section: 'history',
    figure: `hub, ${HUB_RATE} msg/s from 200 devices for ${HUB_SECONDS} s: ${figure}, ${label} vs empty`,
    value: hub ? pick(hub) : null,
    unit,
    baseline: { label: 'empty store', value: base ? pick(base) : null },
    ...(target ? { target } : {}),
    ...(failed || note ? { note: failed ?? note } : {}),
  });
  return [
    row(
      'PUBACK p99',
      'ms',
      (r) => Math.round(r.pubackP99Ms * 10) / 10,
      FLAT_LOWER,
      hub ? `${hub.acked}/${hub.sent} acked; p50 ${hub.pubackP50Ms.toFixed(1)} ms` : undefined,
    ),
    row('peak RSS', 'MB', (r) => Math.round(r.peakRssMb), FLAT_LOWER),
    row('CPU per message', 'µs', (r) => r.cpuUsPerMessage, FLAT_LOWER),
    row('start to ready (store open, alarm replay)', 's', (r) => r.readySeconds),
  ];
}
