/**
 * The bench's seeded random numbers, in a module of its own: bench/cpu_probe_task.ts runs with no
 * permission, so it cannot import bench/seed.ts (which opens databases through the core's code).
 */

/** A seeded PRNG (mulberry32): numbers in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
