/**
 * A small seeded PRNG (mulberry32): every random choice in training (bin sampling, bagging,
 * feature subsampling, the random split) draws from one of these, so a seed fixes the model.
 * Math.random is never used in lib/model.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    // Mix the seed once so that nearby seeds (1, 2, 3) start far apart.
    this.state = (Math.imul(seed | 0, 0x9e3779b9) ^ 0x6d2b79f5) >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform number in [0, 1). */
  next(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A uniform integer in [0, n). */
  nextInt(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** k distinct indices from [0, n), in increasing order (k >= n gives all of them). */
  sampleSorted(n: number, k: number): Uint32Array {
    if (k >= n) {
      const all = new Uint32Array(n);
      for (let i = 0; i < n; i++) all[i] = i;
      return all;
    }
    // Selection sampling (Knuth's algorithm S): one pass, output already sorted.
    const out = new Uint32Array(k);
    let chosen = 0;
    for (let i = 0; i < n && chosen < k; i++) {
      if ((n - i) * this.next() < k - chosen) out[chosen++] = i;
    }
    return out;
  }
}
