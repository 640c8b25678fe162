import { readFileSync } from 'node:fs';

/** Linux /proc readings of another process: memory (kB → MB) and CPU time. */

const CLOCK_TICKS_PER_S = 100; // USER_HZ; 100 on every Linux this runs on

export interface Memory {
  readonly rssMb: number;
  /** Peak RSS over the process's life (VmHWM). */
  readonly hwmMb: number;
}

export function memoryOf(pid: number): Memory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined; // the process has gone
  }
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) of the whole process and of its main thread alone. */
export interface CpuTimes {
  readonly process: number;
  readonly mainThread: number;
}

function ticksOf(statPath: string): number {
  // Field 2 (comm) may hold spaces; fields after its closing paren are space-separated.
  const stat = readFileSync(statPath, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state): utime is field 14, stime field 15.
  return Number(rest[11]) + Number(rest[12]);
}

export function cpuOf(pid: number): CpuTimes | undefined {
  try {
    return {
      process: ticksOf(`/proc/${pid}/stat`) / CLOCK_TICKS_PER_S,
      mainThread: ticksOf(`/proc/${pid}/task/${pid}/stat`) / CLOCK_TICKS_PER_S,
    };
  } catch {
    return undefined;
  }
}

/** CPU seconds used between two readings. */
export function cpuDelta(before: CpuTimes | undefined, after: CpuTimes | undefined): CpuTimes | null {
  if (!before || !after) return null;
  return { process: after.process - before.process, mainThread: after.mainThread - before.mainThread };
}

/** CPU used between two readings, as a share of one core over `seconds`. */
export function cpuShare(before: CpuTimes | undefined, after: CpuTimes | undefined, seconds: number): { process: number; mainThread: number } | null {
  if (!before || !after || seconds <= 0) return null;
  return { process: (after.process - before.process) / seconds, mainThread: (after.mainThread - before.mainThread) / seconds };
}

/** Samples a process's RSS on a timer; peak and mean over the sampled span. */
export class RssSampler {
  #timer: NodeJS.Timeout | undefined;
  #peak = 0;
  #sum = 0;
  #count = 0;

  constructor(
    private readonly pid: number,
    private readonly everyMs = 100,
  ) {}

  start(): this {
    this.#sample();
    this.#timer = setInterval(() => this.#sample(), this.everyMs);
    return this;
  }

  stop(): { peakMb: number; meanMb: number } {
    clearInterval(this.#timer);
    this.#sample();
    return { peakMb: this.#peak, meanMb: this.#count ? this.#sum / this.#count : 0 };
  }

  #sample(): void {
    const m = memoryOf(this.pid);
    if (!m || Number.isNaN(m.rssMb)) return;
    this.#peak = Math.max(this.#peak, m.rssMb);
    this.#sum += m.rssMb;
    this.#count++;
  }
}

export const ownCpuSeconds = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
