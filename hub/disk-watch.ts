import { statfs } from 'node:fs/promises';
import type { DiskLevel, DiskPlace, DiskReport } from '../kernel/disk.js';
import type { Logger } from '../kernel/log.js';

/**
 * Watches free space where the hub writes (issue 25 item 4). Below the soft mark it
 * warns; below the hard mark on a place ingest writes to (data folder, journal) it
 * closes admission: the broker withholds PUBACKs and refuses new connections with
 * CONNACK 3, so the journal and DuckDB stop growing while there is still room to load
 * what was acknowledged. It opens again by itself once free space is back above the
 * hard mark with some margin (no flapping at the edge).
 *
 * The journal is safe even without this (a failed append is never acknowledged): the
 * watch is what turns a full disk into a clean, explained pause instead of errors.
 */
export interface DiskWatchOptions {
  readonly places: readonly { readonly role: string; readonly path: string; readonly stopsIngest: boolean }[];
  /** Below this many free bytes: warn. 0 = never. */
  readonly softMinBytes: number;
  /** Below this many free bytes on a place that stopsIngest: stop taking messages. 0 = never. */
  readonly hardMinBytes: number;
  readonly intervalMs: number;
  readonly logger: Logger;
}

export interface DiskWatch {
  report(): DiskReport;
  /** Why new messages and connections are refused now; undefined while they are welcome. */
  closedBecause(): string | undefined;
  /** Resolves once admission is open (at once if it is). */
  whenOpen(): Promise<void>;
  /** Checks now (also done every intervalMs, more often near the hard mark). */
  check(): Promise<DiskReport>;
  close(): void;
}

const MiB = 1024 * 1024;
const fmt = (bytes: number): string => `${(bytes / MiB).toFixed(1)} MiB`;

export async function startDiskWatch(o: DiskWatchOptions): Promise<DiskWatch> {
  const log = o.logger.child({ component: 'disk-watch' });
  // Opening again needs a little more than the hard mark: a tenth of the way to the soft mark, at least 1 MiB.
  const resumeAt = o.hardMinBytes + Math.max(MiB, (o.softMinBytes - o.hardMinBytes) / 10);
  let places: DiskPlace[] = [];
  let level: DiskLevel = 'ok';
  let reason: string | undefined;
  let stops = 0;
  const waiters: (() => void)[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const levelOf = (free: number, stopsIngest: boolean, wasFull: boolean): DiskLevel => {
    if (stopsIngest && o.hardMinBytes > 0 && (free < o.hardMinBytes || (wasFull && free < resumeAt))) return 'full';
    if (o.softMinBytes > 0 && free < o.softMinBytes) return 'low';
    return 'ok';
  };

  async function check(): Promise<DiskReport> {
    const seen: DiskPlace[] = [];
    for (const p of o.places) {
      try {
        const s = await statfs(p.path);
        const freeBytes = s.bavail * s.bsize;
        const before = places.find((q) => q.path === p.path);
        seen.push({
          role: p.role,
          path: p.path,
          freeBytes,
          totalBytes: s.blocks * s.bsize,
          level: levelOf(freeBytes, p.stopsIngest, before?.level === 'full'),
        });
      } catch (err) {
        // A place that cannot be looked at is not a reason to stop: say so and go on.
        log.warn({ err, path: p.path }, 'disk watch: cannot read free space');
      }
    }
    places = seen;
    const full = seen.filter((p) => p.level === 'full');
    const low = seen.filter((p) => p.level !== 'ok');
    const next: DiskLevel = full.length > 0 ? 'full' : low.length > 0 ? 'low' : 'ok';
    const worst = full[0] ?? low[0];
    reason = worst
      ? next === 'full'
        ? `disk nearly full: ${worst.role} (${worst.path}) has ${fmt(worst.freeBytes)} free, below the hard mark of ${fmt(o.hardMinBytes)}; not taking messages until space is freed`
        : `disk space low: ${worst.role} (${worst.path}) has ${fmt(worst.freeBytes)} free, below the soft mark of ${fmt(o.softMinBytes)}`
      : undefined;
    if (next !== level) {
      const fields = {
        event: `disk_${next}`,
        places: seen.map(({ role, path, freeBytes }) => ({ role, path, freeBytes })),
        softMinBytes: o.softMinBytes,
        hardMinBytes: o.hardMinBytes,
      };
      if (next === 'full') {
        stops++;
        log.error(fields, reason!);
      } else if (next === 'low') log.warn(fields, reason!);
      else log.info(fields, 'disk space back above the marks');
      if (level === 'full' && next !== 'full') log.warn({ event: 'disk_resumed' }, 'free space is back: taking messages again');
      level = next;
    }
    if (level !== 'full') for (const w of waiters.splice(0)) w();
    return report();
  }

  function report(): DiskReport {
    return { level, reason, places, softMinBytes: o.softMinBytes, hardMinBytes: o.hardMinBytes, stops };
  }

  // Near the hard mark, ten times as often: a burst must not cross it between two looks.
  const nextDelay = (): number => (places.some((p) => p.freeBytes < 2 * o.hardMinBytes) ? Math.max(10, o.intervalMs / 10) : o.intervalMs);
  const schedule = (): void => {
    if (closed) return;
    timer = setTimeout(() => {
      void check().finally(schedule);
    }, nextDelay());
    timer.unref();
  };

  await check();
  schedule();
  return {
    report,
    // Once closed (the hub stopping), nothing is held any more.
    closedBecause: () => (level === 'full' && !closed ? reason : undefined),
    whenOpen: () => (level === 'full' && !closed ? new Promise<void>((r) => waiters.push(r)) : Promise.resolve()),
    check,
    close() {
      closed = true;
      clearTimeout(timer);
      for (const w of waiters.splice(0)) w();
    },
  };
}
