import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DIST } from '../config.js';
import type { Row, Section, Target } from './types.js';

/** Issue 24: ingest within 10 % of the empty store's whatever the history. */
const FLAT: Target = { better: 'higher', goal: 0.9, limit: 0.5, on: 'ratio', unit: '×' };
const MEMORY_LIMIT = '64MB';
const MESSAGES = 50_000;

interface Run {
  readonly stored: number;
  readonly messagesPerS?: number;
  readonly cpuUsPerMessage?: number;
  readonly peakRssMb?: number;
  readonly fileMb?: number;
  readonly seedSeconds?: number;
  readonly written?: number;
  readonly error?: string;
}

/**
 * The store with history: bench/history-store.ts in a fresh process per size, first
 * empty, then with `historyRows` messages seeded in SQL; each writes 50 000 messages
 * through store.write() in the hub's batch size at a 64MB memory limit.
 */
export const historySection: Section = {
  id: 'history',
  title: 'history: store.write with history seeded',
  async run(ctx, config) {
    const runOnce = async (stored: number): Promise<Run> => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [join(DIST, 'bench/history-store.js'), '--stored', String(stored), '--messages', String(MESSAGES), '--memory', MEMORY_LIMIT, '--dir', join(ctx.runDir, `history-${stored}`)],
        { env: { ...config.baseEnv }, maxBuffer: 1 << 20 },
      );
      return JSON.parse(stdout.trim().split('\n').pop()!) as Run;
    };
    const empty = await runOnce(0);
    const full = await runOnce(config.historyRows);
    const label = `${(config.historyRows / 1e6).toFixed(0)} M stored`;
    const failed = full.error ? `n/a (${full.written ?? 0} written, then: ${full.error})` : undefined;
    const rows: Row[] = [
      {
        section: 'history',
        figure: `store.write, 125-message batches, ${label} vs empty (${MEMORY_LIMIT})`,
        value: failed ? null : (full.messagesPerS ?? null),
        unit: 'msg/s',
        baseline: { label: 'empty store', value: empty.messagesPerS ?? null },
        target: FLAT,
        note: failed ?? `seeded in ${full.seedSeconds} s; ${full.fileMb} MB file`,
      },
      {
        section: 'history',
        figure: `CPU per message, ${label} vs empty`,
        value: failed ? null : (full.cpuUsPerMessage ?? null),
        unit: 'µs',
        baseline: { label: 'empty store', value: empty.cpuUsPerMessage ?? null },
        ...(failed ? { note: failed } : {}),
      },
      {
        section: 'history',
        figure: `peak RSS while writing, ${label} vs empty`,
        value: failed ? null : (full.peakRssMb ?? null),
        unit: 'MB',
        baseline: { label: 'empty store', value: empty.peakRssMb ?? null },
        target: { better: 'lower', goal: 1.1, limit: 1.5, on: 'ratio', unit: '×' },
        ...(failed ? { note: failed } : {}),
      },
    ];
    return { rows, details: { empty, full } };
  },
};
