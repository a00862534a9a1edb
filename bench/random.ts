/** Seeded randomness for the benchmark: the same seed gives the same briefs and rules. */

export type Random = {
  /** Uniform in [0, 1). */
  next(): number;
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** `count` distinct items (fewer when there are not enough). */
  sample<T>(items: readonly T[], count: number): T[];
  chance(probability: number): boolean;
};

/** mulberry32: small, fast, and good enough to shape a workload. */
export function createRandom(seed: number): Random {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  const sample = <T>(items: readonly T[], count: number) => {
    const chosen = new Set<T>();
    for (let tries = 0; chosen.size < Math.min(count, items.length) && tries < count * 20; tries++)
      chosen.add(pick(items));
    return [...chosen];
  };
  return { next, int, pick, sample, chance: (probability) => next() < probability };
}

/**
 * Draws items with Zipf's law (weight of rank r ∝ 1 / (r + offset)^s, the Zipf–Mandelbrot
 * form when offset > 0): word frequencies in text look so,
 * and so do the terms analysts pick: a few very common, a long tail of rare ones.
 */
export function createZipf<T>(items: readonly T[], random: Random, exponent = 1, offset = 0): () => T {
  const cumulative = new Float64Array(items.length);
  let total = 0;
  for (let rank = 0; rank < items.length; rank++) {
    total += 1 / (rank + 1 + offset) ** exponent;
    cumulative[rank] = total;
  }
  return () => {
    const target = random.next() * total;
    let low = 0;
    let high = items.length - 1;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if (cumulative[middle]! < target) low = middle + 1;
      else high = middle;
    }
    return items[low]!;
  };
}

/** A deterministic shuffle (Fisher–Yates), used to give the vocabulary its Zipf ranks. */
export function shuffled<T>(items: readonly T[], random: Random): T[] {
  const out = [...items];
  for (let index = out.length - 1; index > 0; index--) {
    const other = Math.floor(random.next() * (index + 1));
    [out[index], out[other]] = [out[other]!, out[index]!];
  }
  return out;
}
