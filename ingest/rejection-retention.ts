import type { Logger } from '../kernel/log.js';
import type { TelemetryStore } from '../kernel/ports.js';

/**
 * Rejections expire (issue 25 item 2): every intervalMs, those received more than
 * `days` ago are deleted. Only where the store can (the embedded one); InfluxDB keeps
 * them as long as its bucket's retention says.
 */
export function startRejectionRetention(o: {
  readonly store: Pick<TelemetryStore, 'expireRejections'>;
  readonly days: number;
  readonly intervalMs: number;
  readonly logger: Logger;
  readonly now?: () => number;
}): { stop(): Promise<void> } {
  const expire = o.store.expireRejections?.bind(o.store);
  if (!expire || o.days <= 0) return { stop: async () => undefined };
  const log = o.logger.child({ component: 'rejection-retention' });
  const now = o.now ?? Date.now;
  let running: Promise<void> = Promise.resolve();
  const run = (): void => {
    running = (async () => {
      try {
        const deleted = await expire(now() - o.days * 86_400_000);
        if (deleted > 0) log.info({ event: 'rejections_expired', deleted, days: o.days }, 'deleted expired rejections');
      } catch (err) {
        log.warn({ err }, 'expiring rejections failed; trying again at the next interval');
      }
    })();
  };
  run();
  const timer = setInterval(run, o.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
