import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyReply } from 'fastify';
import { HubError } from '../kernel/errors.js';
import type { ApiLimits } from './config.js';
import { refuseFor } from './rate-limits.js';

/** What a refused export is told to wait: about as long as a mid-sized export takes. */
const RETRY_AFTER_S = 30;
/** How often a running export's temp files are measured against the space left. */
const MEASURE_MS = 250;

/** Bytes of the files in an export's temp folder now (a vanished file counts as nothing). */
function bytesIn(dir: string): number {
  let sum = 0;
  try {
    for (const name of readdirSync(dir)) sum += statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0;
  } catch {
    return 0;
  }
  return sum;
}

export interface ExportSlot {
  /**
   * Runs the write, measuring the temp folder as it grows: when all exports together would
   * hold more than the cap, the write is abandoned with EXPORT_TOO_LARGE (the caller removes
   * the folder; an engine COPY already under way finishes into the removed file and is dropped).
   */
  write<T>(run: Promise<T>): Promise<T>;
  /** The file is written and waits to be sent: it keeps its bytes counted until released. */
  release(): void;
}

/**
 * Exports running or waiting to be sent, per principal and in all, and the temp space they
 * hold (API_EXPORTS_PER_PRINCIPAL, API_EXPORTS_TOTAL, API_EXPORT_TEMP_MAX_BYTES). A slot is
 * held from the first row written until the file is sent or abandoned, so unread exports
 * count as much as running ones.
 */
export function exportGate(limits: ApiLimits['exports']) {
  const held = new Map<string, number>();
  const dirs = new Map<string, number>();
  let total = 0;
  const inUse = (): number => [...dirs.values()].reduce((a, b) => a + b, 0);

  return {
    enter(who: string, dir: string, reply: FastifyReply): ExportSlot {
      const mine = held.get(who) ?? 0;
      if (mine >= limits.perPrincipal)
        throw refuseFor(reply, RETRY_AFTER_S, 'TOO_MANY_EXPORTS', `this token already has ${mine} exports running or unread (at most ${limits.perPrincipal})`);
      if (total >= limits.total) throw refuseFor(reply, RETRY_AFTER_S, 'TOO_MANY_EXPORTS', `the hub has its ${limits.total} exports running or unread`);
      if (inUse() >= limits.tempMaxBytes)
        throw refuseFor(reply, RETRY_AFTER_S, 'TOO_MANY_EXPORTS', 'the temp space for exports is in use; retry when other exports are sent');
      held.set(who, mine + 1);
      total++;
      dirs.set(dir, 0);
      let released = false;
      const tooLarge = (): HubError =>
        new HubError(
          'EXPORT_TOO_LARGE',
          `exports on disk would exceed ${limits.tempMaxBytes} bytes (API_EXPORT_TEMP_MAX_BYTES); narrow the period, device or measurement`,
        );
      const measure = (): boolean => {
        dirs.set(dir, bytesIn(dir));
        return inUse() <= limits.tempMaxBytes;
      };
      return {
        write: <T>(run: Promise<T>): Promise<T> =>
          new Promise<T>((resolve, reject) => {
            const timer = setInterval(() => {
              if (measure()) return;
              clearInterval(timer);
              run.catch(() => undefined);
              reject(tooLarge());
            }, MEASURE_MS);
            run.then(
              (value) => {
                clearInterval(timer);
                if (measure()) resolve(value);
                else reject(tooLarge());
              },
              (err: unknown) => {
                clearInterval(timer);
                reject(err);
              },
            );
          }),
        release() {
          if (released) return;
          released = true;
          dirs.delete(dir);
          total--;
          const left = (held.get(who) ?? 1) - 1;
          if (left > 0) held.set(who, left);
          else held.delete(who);
        },
      };
    },
  };
}
