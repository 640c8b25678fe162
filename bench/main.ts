import '../kernel/runtime.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadBenchConfig, ROOT, usage, type SectionId } from './config.js';
import { BenchContext } from './context.js';
import { jsonRow, table } from './report.js';
import { apiSection } from './sections/api.js';
import { exportSection } from './sections/export.js';
import { historySection } from './sections/history.js';
import { ingestSection } from './sections/ingest.js';
import { latencySection } from './sections/latency.js';
import { memorySection } from './sections/memory.js';
import { overloadSection } from './sections/overload.js';
import { rulesSection } from './sections/rules.js';
import { verdictOf, type Row, type Section } from './sections/types.js';

/**
 * `npm run bench`: starts what it measures on loopback (the hub and the baseline brokers
 * as child processes), runs the sections in order, prints one table and writes JSON.
 * A section that fails is reported and the others still run.
 */
const SECTIONS: Record<SectionId, Section> = {
  ingest: ingestSection,
  latency: latencySection,
  memory: memorySection,
  overload: overloadSection,
  export: exportSection,
  rules: rulesSection,
  api: apiSection,
  history: historySection,
};

const config = (() => {
  try {
    return loadBenchConfig(process.argv.slice(2), process.env);
  } catch (e) {
    console.error(`bench: ${(e as Error).message}\n\n${usage()}`);
    process.exit(2);
  }
})();
if (config === 'help') {
  console.log(usage());
  process.exit(0);
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const started = performance.now();
const startedAt = new Date();
const ctx = new BenchContext(config, join(ROOT, 'data/bench', `run-${startedAt.toISOString().replace(/[:.]/g, '-')}`));
const rows: Row[] = [];
const sections: Record<string, unknown> = {};
const log = (s: string) => console.log(`[bench ${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${s}`);

log(
  `${config.quick ? 'quick' : 'full'} run: ${config.devices} devices, sections ${config.sections.join(', ')}; load average ${load()} on ${cpus().length} cores`,
);
for (const id of config.sections) {
  const section = SECTIONS[id];
  const elapsed = (performance.now() - started) / 1000;
  if (elapsed > config.budgetSeconds) {
    log(`${section.title}: skipped, ${elapsed.toFixed(0)} s of the ${config.budgetSeconds} s budget spent`);
    rows.push({
      section: id,
      figure: section.title,
      value: null,
      unit: '',
      note: `n/a (skipped: ${elapsed.toFixed(0)} s of the ${config.budgetSeconds} s budget spent; load average ${load()})`,
    });
    sections[id] = { skipped: true };
    continue;
  }
  const t0 = performance.now();
  const loadBefore = load();
  log(`${section.title}…`);
  try {
    const { rows: r, details } = await section.run(ctx, config);
    rows.push(...r);
    sections[id] = { seconds: (performance.now() - t0) / 1000, loadBefore, loadAfter: load(), details };
    for (const row of r) log(`  ${row.figure}: ${row.value === null ? row.note : `${row.value.toFixed(1)} ${row.unit}`} [${verdictOf(row)}]`);
  } catch (e) {
    const message = (e as Error).stack ?? String(e);
    log(`  ${section.title} failed: ${message}`);
    rows.push({ section: id, figure: `${section.title} failed`, value: null, unit: '', note: `n/a (failed: ${(e as Error).message.split('\n')[0]})` });
    sections[id] = { seconds: (performance.now() - t0) / 1000, error: message };
    ctx.keep(`${id} failed`);
  }
}

log('stopping the hub and checking its DuckDB file against the acks…');
const finish = await ctx.finish().catch((e: unknown) => ({ check: { error: (e as Error).message }, exitCode: undefined }));
if (finish.check && 'error' in finish.check) {
  rows.push({ section: 'ingest', figure: 'all hub phases: stored in DuckDB file vs acked', value: null, unit: '', note: `n/a (${finish.check.error})` });
} else if (finish.check) {
  const c = finish.check;
  const detail = c.phases.map((p) => `${p.name} ${p.stored}/${p.acked}`).join(', ');
  const zero = { better: 'lower', goal: 0, limit: 0, on: 'value', unit: 'messages' } as const;
  rows.push(
    {
      section: 'ingest',
      figure: 'all hub phases: acked but not in DuckDB file',
      value: c.lost,
      unit: 'messages',
      target: zero,
      note: `stored/acked per phase: ${detail}; falls ${c.falls.stored}/${c.falls.acked}; ${c.rejections} rejections; hub exit code ${finish.exitCode}`,
    },
    { section: 'ingest', figure: 'all hub phases: stored twice in DuckDB file', value: c.duplicates, unit: 'messages', target: zero },
  );
}

const seconds = (performance.now() - started) / 1000;
const order = new Map(config.sections.map((s, i) => [s, i]));
rows.sort((a, b) => (order.get(a.section) ?? 0) - (order.get(b.section) ?? 0));
const summary = `${config.quick ? 'quick' : 'full'} run, ${seconds.toFixed(0)} s; load average at the end ${load()} (1, 5, 15 min) on ${cpus().length} cores`;
console.log(`\n${table(rows)}\n\n${summary}`);

const result = {
  startedAt: startedAt.toISOString(),
  seconds,
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryGb: totalmem() / 2 ** 30, node: process.version, loadAverageEnd: loadavg() },
  config: { ...config, baseEnv: undefined },
  rows: rows.map(jsonRow),
  sections,
  verification: finish.check ?? null,
};
mkdirSync(dirname(config.outFile), { recursive: true });
writeFileSync(config.outFile, `${JSON.stringify(result, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
console.log(`results: ${config.outFile}`);
const kept = ctx.cleanUp();
if (kept) console.log(kept);
process.exit(0);
