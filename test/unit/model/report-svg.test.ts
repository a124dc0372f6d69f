import { describe, expect, it } from '@jest/globals';
import { thin } from '#lib/model/report-svg.ts';

describe('thin', () => {
  it('keeps the first and last points and those at least `resolution` from the last kept one', () => {
    const xs = Float64Array.of(0, 0.001, 0.003, 0.0035, 0.01, 1);
    const ys = Float64Array.of(0, 0, 0, 0, 0.5, 1);
    expect(thin(xs, ys, 0.002)).toEqual([
      [0, 0],
      [0.003, 0],
      [0.01, 0.5],
      [1, 1],
    ]);
  });

  it('measures the distance in both coordinates (Manhattan)', () => {
    expect(thin([0, 0.0015, 0.003, 1], [0, 0.0015, 0.003, 1], 0.002)).toEqual([
      [0, 0],
      [0.0015, 0.0015],
      [0.003, 0.003],
      [1, 1],
    ]);
  });

  it('gives short curves back whole', () => {
    expect(thin([], [])).toEqual([]);
    expect(thin([0.5], [0.25])).toEqual([[0.5, 0.25]]);
    expect(thin([0, 0], [0, 0])).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});
