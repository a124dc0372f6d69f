/**
 * A small, fast, seedable PRNG (sfc32, seeded through splitmix32) so generated data is identical
 * for a seed on every machine and Node version. Math.random is neither seedable nor stable.
 */
export class SeededRandom {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spareNormal: number | undefined;

  constructor(seed: number | string) {
    let s = typeof seed === 'number' ? seed >>> 0 : hashString(seed);
    const next = (): number => {
      // splitmix32: spreads any seed (even 0 or 1) over the whole state
      s = (s + 0x9e3779b9) | 0;
      let z = s;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.a = next();
    this.b = next();
    this.c = next();
    this.d = next();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [min, max] (both included). */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  /** Standard normal (Box-Muller, the second value kept for the next call). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** An independent stream derived from this one (so adding draws in one place does not shift another). */
  fork(): SeededRandom {
    return new SeededRandom(this.nextUint32());
  }
}

/** A value drawn with the given weights (they need not sum to 1). */
export class WeightedChoice<T> {
  private readonly cumulative: number[];
  constructor(
    private readonly values: readonly T[],
    weights: readonly number[],
  ) {
    if (values.length !== weights.length || values.length === 0)
      throw new Error('values and weights must be non-empty and aligned');
    let sum = 0;
    this.cumulative = weights.map((w) => (sum += w));
    this.cumulative = this.cumulative.map((c) => c / sum);
  }

  pick(random: SeededRandom): T {
    const u = random.next();
    const cum = this.cumulative;
    for (let i = 0; i < cum.length; i++) if (u < cum[i]) return this.values[i];
    return this.values[this.values.length - 1];
  }
}

/** FNV-1a, so string seeds ("demo") work too. */
function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
