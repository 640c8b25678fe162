import { z } from 'zod';
import { SafeId } from '../../kernel/ids.js';

/** Times go out as ISO 8601 UTC strings: self-describing for vendors reading raw JSON. */
export const iso = (ms: number): string => new Date(ms).toISOString();
export const IsoTime = z.iso.datetime().describe('ISO 8601 UTC time');

const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

// The range of a JS Date, so every accepted instant can be rendered back as ISO 8601.
const MAX_MS = 8.64e15;

/** ISO 8601 with an offset, on a day that exists: Date.parse rolls 2025-02-30 over to March. */
function isRealIsoDate(value: string): boolean {
  const m = ISO_WITH_OFFSET.exec(value);
  if (!m) return false;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return month >= 1 && month <= 12 && day >= 1 && day <= daysInMonth;
}

/** Parses "1718000000000" (epoch ms) or an ISO 8601 time with an offset; local times are ambiguous. */
function toEpochMs(value: string | number): number | undefined {
  let ms: number;
  if (typeof value === 'number') ms = value;
  else if (/^-?\d{1,16}$/.test(value)) ms = Number(value);
  else if (isRealIsoDate(value)) ms = Date.parse(value);
  else return undefined;
  return Number.isSafeInteger(ms) && Math.abs(ms) <= MAX_MS ? ms : undefined;
}

const instant = <T extends z.ZodType<string | number>>(input: T) =>
  input.transform((v, ctx) => {
    const ms = toEpochMs(v as string | number);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: 'expected epoch milliseconds or an ISO 8601 time with Z or ±hh:mm' });
      return z.NEVER;
    }
    return ms;
  });

/** A time in a query string. */
export const QueryInstant = instant(z.string()).describe('Epoch milliseconds, or ISO 8601 with Z or ±hh:mm offset');
/** A time in a JSON body. */
export const BodyInstant = instant(z.union([z.number().int(), z.string()])).describe('Epoch milliseconds, or ISO 8601 with Z or ±hh:mm offset');

export const Id = SafeId.describe('Letters, digits, ".", "_" or "-"; at most 64; starts with a letter or digit');
export const IdParams = z.object({ id: Id });
export const Name = z.string().trim().min(1).max(200);

export const listOf = <T extends z.ZodType>(item: T) => z.object({ items: z.array(item) });
