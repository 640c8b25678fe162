import { expect } from 'vitest';
import type { ErrorCode } from '../../kernel/errors.js';

/**
 * Awaits `p` and expects it to reject with the stable code (kernel/errors.ts), and, when
 * given, a message matching `detail`: a bare toThrow() passes for any failure at all.
 */
export async function rejectsWith(p: Promise<unknown>, code: ErrorCode, detail?: RegExp): Promise<void> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err as { code?: string; message?: string },
  );
  expect(e, `expected a rejection with ${code}`).toBeDefined();
  expect(e!.code, e!.message).toBe(code);
  if (detail) expect(e!.message).toMatch(detail);
}

/** rejectsWith() for a function that throws synchronously. */
export function throwsWith(fn: () => unknown, code: ErrorCode, detail?: RegExp): void {
  let e: { code?: string; message?: string } | undefined;
  try {
    fn();
  } catch (err) {
    e = err as { code?: string; message?: string };
  }
  expect(e, `expected a throw with ${code}`).toBeDefined();
  expect(e!.code, e!.message).toBe(code);
  if (detail) expect(e!.message).toMatch(detail);
}
