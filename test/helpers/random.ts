import { createHash } from "node:crypto";

/** mulberry32: a small seeded generator, so a run (faults, kill points, a corpus) can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A number in [0, 1) that depends only on the seed and the key: the same request gets the same
 * draw whatever else happens around it (arrival order, concurrency, machine speed).
 */
export function requestRandom(seed: number, key: string): number {
  return createHash("sha256").update(`${seed}\u0000${key}`).digest().readUInt32BE(0) / 4294967296;
}
