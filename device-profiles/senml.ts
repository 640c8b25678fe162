import { z } from 'zod';

/**
 * SenML JSON (RFC 8428). A pack is an array of records; base fields (bn, bt, bu, bv)
 * apply to the records after them until changed (RFC 8428 §4.1). Resolution (§4.6)
 * turns each record into an absolute name, time, unit and value.
 */
const Rec = z
  .strictObject({
    bn: z.string().optional(),
    bt: z.number().optional(),
    bu: z.string().optional(),
    bv: z.number().optional(),
    bver: z.number().int().optional(),
    n: z.string().optional(),
    u: z.string().optional(),
    v: z.number().optional(),
    vs: z.string().optional(),
    vb: z.boolean().optional(),
    vd: z.string().optional(),
    s: z.number().optional(),
    t: z.number().optional(),
    ut: z.number().optional(),
  })
  // [RFC 8428 §4.2] a record carries at most one value field.
  .refine((r) => [r.v, r.vs, r.vb, r.vd].filter((x) => x !== undefined).length <= 1, { message: 'more than one value field' });

export const SenmlPack = z.array(Rec).min(1).max(256);

export interface ResolvedRecord {
  n: string; // full name (bn + n)
  t: number; // absolute time, epoch seconds
  u?: string;
  v?: number;
  vs?: string;
  vb?: boolean;
  s?: number;
}

/** [RFC 8428 §4.5.3] times below 2^28 are relative to now. */
const RELATIVE_LIMIT = 2 ** 28;

export function resolvePack(pack: z.infer<typeof SenmlPack>, nowSeconds: number): ResolvedRecord[] {
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;
  return pack.map((r) => {
    if (r.bn !== undefined) bn = r.bn;
    if (r.bt !== undefined) bt = r.bt;
    if (r.bu !== undefined) bu = r.bu;
    if (r.bv !== undefined) bv = r.bv;
    let t = bt + (r.t ?? 0);
    if (t < RELATIVE_LIMIT) t = nowSeconds + t;
    const out: ResolvedRecord = { n: bn + (r.n ?? ''), t };
    const u = r.u ?? bu;
    if (u !== undefined) out.u = u;
    if (r.v !== undefined) out.v = bv + r.v;
    if (r.vs !== undefined) out.vs = r.vs;
    if (r.vb !== undefined) out.vb = r.vb;
    if (r.s !== undefined) out.s = r.s;
    return out;
  });
}
