import type { Logger } from 'pino';

/**
 * The catalogue is read again on SIGHUP, not when a file changes: an arena's catalogue is
 * edited by hand, often in several files, and the signal says the edit is complete, so a
 * file saved half-way is never taken (the TLS files, replaced whole by tools, are watched
 * instead: kernel/tls.ts). One reload at a time; a signal during one runs another after it.
 */
export function onHangup(reload: () => Promise<unknown>, log: Logger): { stop(): void } {
  let running: Promise<unknown> = Promise.resolve();
  const hangup = () => {
    log.info({ event: 'catalogue_reload', signal: 'SIGHUP' }, 'reloading the catalogue');
    running = running.then(reload).catch((err: unknown) => log.error({ err }, 'catalogue reload failed'));
  };
  process.on('SIGHUP', hangup);
  return { stop: () => process.off('SIGHUP', hangup) };
}
