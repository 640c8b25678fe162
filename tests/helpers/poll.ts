import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Polls until `probe` returns a value (anything but undefined or false), and returns it;
 * fails naming `what` when `ms` pass first. Tests wait for conditions, never for a
 * fixed time: the deadline only bounds how long a failing test takes to say so.
 */
export async function until<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, ms = 20_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(everyMs);
  }
}
