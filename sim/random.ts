/** A random source in [0, 1). Injected everywhere so a seed reproduces a whole run. */
export type Rng = () => number;

/** mulberry32: tiny, fast, good enough for simulation (not for secrets). */
export function mulberry32(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One independent stream per device, so adding a device does not change the others' runs. */
export function deviceRng(seed: number, deviceId: string): Rng {
  let h = 2166136261 ^ seed; // FNV-1a over the id, mixed with the run seed
  for (let i = 0; i < deviceId.length; i++) h = Math.imul(h ^ deviceId.charCodeAt(i), 16777619);
  return mulberry32(h);
}

export const uniform = (rng: Rng, lo: number, hi: number): number => lo + (hi - lo) * rng();
export const chance = (rng: Rng, p: number): boolean => rng() < p;
/** Exponential waiting time with the given mean: the gap between independent random events. */
export const exponential = (rng: Rng, mean: number): number => -mean * Math.log(1 - rng());
export const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;
export const round = (x: number, decimals: number): number => Math.round(x * 10 ** decimals) / 10 ** decimals;
