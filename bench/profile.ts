import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

/**
 * CPU profile of the hub child's main thread over one phase only, through the V8
 * inspector (the child runs with --inspect on a loopback port): Profiler.start before
 * the phase, Profiler.stop after. `--cpu-prof` would cover the whole process life,
 * set-up and scrypt-bound connects included.
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileSummary {
  readonly file: string;
  readonly sampledMs: number;
  /** Self time by area (a package, a folder of ours, GC, idle), share of sampled time. */
  readonly byArea: readonly { area: string; share: number }[];
  readonly topFunctions: readonly { fn: string; where: string; share: number }[];
}

export class InspectorProfiler {
  #ws: WebSocket | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  constructor(private readonly port: number) {}

  async start(): Promise<void> {
    await this.#connect();
    await this.#call('Profiler.enable');
    await this.#call('Profiler.setSamplingInterval', { interval: 500 });
    await this.#call('Profiler.start');
  }

  /**
   * The hub's own process.memoryUsage(): how much of its RSS is the JS heap and how much
   * lies outside it (DuckDB's buffers, sockets, native allocations). With `gc`, after a
   * full garbage collection, so heapUsed is what is still referenced.
   */
  async memoryUsage(opts: { gc?: boolean } = {}): Promise<Record<string, number>> {
    await this.#connect();
    if (opts.gc) await this.#call('HeapProfiler.collectGarbage');
    const r = (await this.#call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as {
      result: { value: string };
    };
    const bytes = JSON.parse(r.result.value) as Record<string, number>;
    return Object.fromEntries(Object.entries(bytes).map(([k, v]) => [`${k}Mb`, Math.round(v / 2 ** 20)]));
  }

  close(): void {
    this.#ws?.close();
    this.#ws = undefined;
  }

  async #connect(): Promise<void> {
    if (this.#ws) return;
    const list = (await (await fetch(`http://127.0.0.1:${this.port}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
    const url = list[0]?.webSocketDebuggerUrl;
    if (!url) throw new Error('the hub child exposes no inspector target');
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => (ws.once('open', () => resolve()), ws.once('error', reject)));
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
      const p = m.id === undefined ? undefined : this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id!);
      if (m.error) p.reject(new Error(m.error.message));
      else p.resolve(m.result);
    });
    this.#ws = ws;
  }

  /** Stops, writes the .cpuprofile (open it in Chrome DevTools) and summarises it. */
  async stop(file: string): Promise<ProfileSummary> {
    const { profile } = (await this.#call('Profiler.stop')) as { profile: CpuProfile };
    writeFileSync(file, JSON.stringify(profile));
    return summarise(profile, file);
  }

  #call(method: string, params: object = {}): Promise<unknown> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#ws!.send(JSON.stringify({ id, method, params }));
    });
  }
}

function areaOf(f: CallFrame): string {
  if (f.url === '') return f.functionName.startsWith('(') ? f.functionName : '(native)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.url);
  if (pkg) return pkg[1]!;
  const ours = /\/dist\/([^/]+)\//.exec(f.url);
  if (ours) return `arena-hub ${ours[1]}/`;
  if (f.url.startsWith('node:')) return 'node core';
  return f.url;
}

function summarise(profile: CpuProfile, file: string): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let total = 0;
  samples.forEach((id, i) => {
    const dt = Math.max(0, deltas[i + 1] ?? deltas[i] ?? 0);
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  });
  const areas = new Map<string, number>();
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  for (const [id, us] of self) {
    const f = byId.get(id)?.callFrame;
    if (!f) continue;
    const area = areaOf(f);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const where = f.url ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}@${where}`;
    const entry = fns.get(key) ?? { fn: f.functionName || '(anonymous)', where, us: 0 };
    entry.us += us;
    fns.set(key, entry);
  }
  const share = (us: number) => (total ? us / total : 0);
  return {
    file,
    sampledMs: total / 1000,
    byArea: [...areas]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12)
      .map(([area, us]) => ({ area, share: share(us) })),
    topFunctions: [...fns.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, 20)
      .map((e) => ({ fn: e.fn, where: e.where, share: share(e.us) })),
  };
}

export function printProfile(s: ProfileSummary): string {
  const pct = (x: number) => `${(x * 100).toFixed(1).padStart(5)} %`;
  return [
    `hub CPU profile, throughput phase (${(s.sampledMs / 1000).toFixed(1)} s sampled; ${s.file}):`,
    '  self time by area:',
    ...s.byArea.map((a) => `    ${pct(a.share)}  ${a.area}`),
    '  top functions (self):',
    ...s.topFunctions.slice(0, 15).map((f) => `    ${pct(f.share)}  ${f.fn}  ${f.where}`),
  ].join('\n');
}
