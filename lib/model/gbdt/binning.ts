import type { Prng } from './prng.ts';

/**
 * Quantile binning. Each feature's non-missing values are cut into at most maxBin value bins by
 * edges e_1 < ... < e_{K-1} (float32 numbers); bin 0 is reserved for missing (NaN).
 *
 *   bin(x) = 0                        when x is NaN
 *          = 1 + #{ edges e <= x }    otherwise
 *
 * so "bins 1..b go left" is exactly "x < e_b", which is ONNX's BRANCH_LT with threshold e_b.
 * Values are float32 before binning (the ONNX input is a float tensor), so the trainer and
 * onnxruntime compare the same numbers against the same thresholds and route every row alike.
 */
export const MISSING_BIN = 0;

export interface FeatureBins {
  /** Ascending float32 edges; value bins = edges.length + 1. */
  edges: Float32Array;
}

/**
 * Edges for one feature from a sample of its values (NaNs are ignored). Distinct values get their
 * own bin when there are at most maxBin of them; otherwise bins hold about equal counts, and a
 * value more frequent than one bin's share ends its bin (so a spike such as 0 is not mixed with
 * its neighbours).
 */
export function computeBinEdges(sample: Float32Array, maxBin: number): Float32Array {
  let n = 0;
  const values = new Float32Array(sample.length);
  for (let i = 0; i < sample.length; i++) if (!Number.isNaN(sample[i])) values[n++] = sample[i];
  const sorted = sortFloat32(values.subarray(0, n));
  // Distinct values and their counts.
  const distinct = new Float64Array(n);
  const counts = new Float64Array(n);
  let d = 0;
  for (let i = 0; i < n; i++) {
    if (i > 0 && sorted[i] === sorted[i - 1]) counts[d - 1]++;
    else {
      distinct[d] = sorted[i];
      counts[d++] = 1;
    }
  }
  if (d <= 1) return new Float32Array(0);
  const edges: number[] = [];
  if (d <= maxBin) {
    for (let i = 0; i + 1 < d; i++) edges.push(edgeBetween(distinct[i], distinct[i + 1]));
    return Float32Array.from(edges);
  }
  let remaining = n;
  let binsLeft = maxBin;
  let inBin = 0;
  for (let i = 0; i + 1 < d && binsLeft > 1; i++) {
    inBin += counts[i];
    const share = remaining / binsLeft;
    // Close the bin when it holds its share, or when the next value alone is a spike.
    if (inBin >= share || counts[i + 1] >= share) {
      edges.push(edgeBetween(distinct[i], distinct[i + 1]));
      remaining -= inBin;
      binsLeft--;
      inBin = 0;
    }
  }
  return Float32Array.from(edges);
}

/**
 * Ascending copy of NaN-free float32 values, as Float32Array.prototype.sort orders them (-0 before
 * +0), by an LSD radix sort on order-preserving 32-bit keys, 16 bits a pass: V8's typed-array
 * sort took ~15 ms per 200k-value sample, seven features made it the largest serial step of
 * training set-up. Both digits are counted in one pass, and a digit every key shares is not
 * sorted on (the low half of small integers' keys, the high half of a narrow range).
 */
export function sortFloat32(values: Float32Array): Float32Array {
  const n = values.length;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  let keys = new Uint32Array(n);
  let spare = new Uint32Array(n);
  const lowCount = new Uint32Array(65536);
  const highCount = new Uint32Array(65536);
  // Negative numbers: all bits flipped (more negative = smaller key); others: sign bit set.
  for (let i = 0; i < n; i++) {
    const b = bits[i];
    const key = b & 0x80000000 ? ~b >>> 0 : (b | 0x80000000) >>> 0;
    keys[i] = key;
    lowCount[key & 0xffff]++;
    highCount[key >>> 16]++;
  }
  for (let shift = 0; shift <= 16; shift += 16) {
    const count = shift === 0 ? lowCount : highCount;
    if (n === 0 || count[(keys[0] >>> shift) & 0xffff] === n) continue;
    let sum = 0;
    for (let k = 0; k < 65536; k++) {
      const c = count[k];
      count[k] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const key = keys[i];
      spare[count[(key >>> shift) & 0xffff]++] = key;
    }
    const t = keys;
    keys = spare;
    spare = t;
  }
  const out = new Float32Array(n);
  const outBits = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    outBits[i] = key & 0x80000000 ? key & 0x7fffffff : ~key >>> 0;
  }
  return out;
}

/** A float32 edge e with a < e <= c, so that a falls below it and c at or above it. */
function edgeBetween(a: number, c: number): number {
  const mid = Math.fround(a / 2 + c / 2);
  return mid > a && mid <= c ? mid : c;
}

/** Entries per feature in a bin index: one per 16-bit key prefix, and one past the last. */
export const BIN_INDEX_SIZE = 65537;

/**
 * out[k] = the number of edges whose order key's top 16 bits are below k, for k in [0, 65536]
 * (out.length = BIN_INDEX_SIZE). The key is the float32's bits with negatives flipped and the
 * sign bit set on the others (-0 counted as +0), so keys order like the numbers. A value with
 * prefix k is above every edge counted in out[k] and below every edge not in out[k + 1]: its bin
 * is 1 + out[k] + the number of edges in [out[k], out[k + 1]) that are <= it (binKernel).
 */
export function fillBinIndex(edges: Float32Array, out: Uint8Array): void {
  if (out.length !== BIN_INDEX_SIZE)
    throw new RangeError(`a bin index has ${BIN_INDEX_SIZE} entries, got ${out.length}`);
  if (edges.length > 255) throw new RangeError(`a bin index counts at most 255 edges, got ${edges.length}`);
  const bits = new Uint32Array(edges.buffer, edges.byteOffset, edges.length);
  let k = 0;
  for (let j = 0; j < edges.length; j++) {
    const prefix = keyPrefix(bits[j]);
    if (prefix >= k) {
      out.fill(j, k, prefix + 1);
      k = prefix + 1;
    }
  }
  out.fill(edges.length, k, BIN_INDEX_SIZE);
}

/** The top 16 bits of a float32's order key (-0 as +0); binKernel inlines the same expression. */
function keyPrefix(b: number): number {
  return b < 0x80000000 ? (b >>> 16) | 0x8000 : b === 0x80000000 ? 0x8000 : (~b >>> 16) & 0xffff;
}

/** The bin of one float32 value (see the module comment). */
export function binOf(x: number, edges: Float32Array): number {
  if (Number.isNaN(x)) return MISSING_BIN;
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (edges[mid] <= x) lo = mid + 1;
    else hi = mid;
  }
  return lo + 1;
}

/** Row indices used to find bin edges: all rows, or a seeded sample of binSampleCount rows. */
export function binSampleRows(numRows: number, binSampleCount: number, prng: Prng): Uint32Array {
  return prng.sampleSorted(numRows, binSampleCount);
}
