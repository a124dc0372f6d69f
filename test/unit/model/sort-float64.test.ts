import { describe, expect, it } from '@jest/globals';
import { sortFloat64InPlace } from '#lib/model/sort-float64.ts';

/** The same order, bit for bit (-0 told from +0, NaN where the native sort puts it). */
function expectNativeOrder(input: Float64Array): void {
  const expected = Float64Array.from(input).sort();
  const got = sortFloat64InPlace(Float64Array.from(input));
  expect(new Uint32Array(got.buffer)).toEqual(new Uint32Array(expected.buffer));
}

function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

describe('sortFloat64InPlace', () => {
  const random = seeded(7);

  it('orders probabilities as the native sort does, in place', () => {
    const p = Float64Array.from({ length: 50_000 }, () => 1 / (1 + Math.exp(-(random() * 12 - 6))));
    expectNativeOrder(p);
    const same = Float64Array.from(p);
    expect(sortFloat64InPlace(same)).toBe(same);
  });

  it('keeps ties, exact 0 and 1, -0 before +0, subnormals, Infinity and NaN in the native order', () => {
    const values: number[] = [];
    for (let i = 0; i < 20_000; i++) {
      const r = random();
      values.push(
        r < 0.1
          ? 0
          : r < 0.15
            ? -0
            : r < 0.2
              ? 1
              : r < 0.25
                ? 0.5
                : r < 0.3
                  ? 5e-324 * (i % 7)
                  : r < 0.32
                    ? Infinity
                    : r < 0.34
                      ? Number.NaN
                      : r * 1e6,
      );
    }
    expectNativeOrder(Float64Array.from(values));
  });

  it('takes the native sort for negative numbers and for short arrays', () => {
    expectNativeOrder(Float64Array.from({ length: 10_000 }, () => random() - 0.5));
    expectNativeOrder(Float64Array.from({ length: 100 }, () => random()));
    expectNativeOrder(new Float64Array(0));
  });

  it('sorts a subarray without touching the values around it', () => {
    const all = Float64Array.from({ length: 12_000 }, () => random());
    const before = Float64Array.from(all);
    const mid = all.subarray(1000, 11_000);
    sortFloat64InPlace(mid);
    expect(Array.from(mid)).toEqual(Array.from(before.subarray(1000, 11_000)).sort((a, b) => a - b));
    expect(all.subarray(0, 1000)).toEqual(before.subarray(0, 1000));
    expect(all.subarray(11_000)).toEqual(before.subarray(11_000));
  });
});
