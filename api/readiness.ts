import { HubError } from '../kernel/errors.js';
import type { ApiDeps } from './deps.js';

const READY_TIMEOUT_MS = 2000;

const within = <T>(what: string, p: Promise<T>): Promise<T> =>
  Promise.race([
    p,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} did not answer in ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS).unref()),
  ]);

/**
 * The disk watch's part of readiness: the reason the hub stopped taking messages (not
 * ready), or a warning below the soft mark (ready, said in `warnings`).
 */
function diskReadiness(deps: Pick<ApiDeps, 'disk'>): { stopped?: string; warnings?: string[] } {
  const report = deps.disk?.();
  if (!report || report.level === 'ok') return {};
  return report.level === 'full' ? { stopped: report.reason } : { warnings: [report.reason ?? 'disk space low'] };
}

export type Readiness =
  | { readonly ready: true; readonly warnings: readonly string[] }
  | { readonly ready: false; readonly check: string; readonly reason: string; readonly cause?: unknown };

/**
 * What GET /readyz answers, and what each live stream's heartbeat carries: the telemetry
 * store and the registry answer, the store takes writes, the hub's own check passes, and
 * there is disk space. Never throws.
 */
export async function readiness(deps: Pick<ApiDeps, 'store' | 'registry' | 'ready' | 'disk'>): Promise<Readiness> {
  const checks: [string, () => Promise<unknown>][] = [
    ['store', () => deps.store.ping()],
    // A primary-key lookup: one round trip to the registry's database.
    ['registry', () => deps.registry.getVendor('readyz-probe')],
    ...(deps.ready ? [['hub', deps.ready] as [string, () => Promise<unknown>]] : []),
  ];
  for (const [name, check] of checks) {
    try {
      await within(name, check());
    } catch (err) {
      // The store's own account of an outage (stores/outbox/outbox.ts ping) is the useful part.
      const cause = name === 'store' && err instanceof HubError ? `: ${err.message}` : '';
      return { ready: false, check: name, reason: `${name} is not ready${cause}`, cause: err };
    }
  }
  const disk = diskReadiness(deps);
  if (disk.stopped !== undefined) return { ready: false, check: 'disk', reason: disk.stopped };
  return { ready: true, warnings: disk.warnings ?? [] };
}
