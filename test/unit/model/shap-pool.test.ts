import { describe, expect, it } from '@jest/globals';
import { TreeShapExplainer } from '#lib/model/shap.ts';
import { ShapPool } from '#lib/model/shap-pool.ts';
import { randomModel, randomRows } from './shap-brute-force.ts';

describe('ShapPool (worker threads)', () => {
  const model = randomModel(8, 6, 12, 31);
  const explainer = TreeShapExplainer.fromModel(model);
  const rows = 3001; // not a multiple of the pool's chunk
  const x = randomRows(9, 6, rows);
  const expected = explainer.explainRows(x, rows);

  it('gives exactly the single-thread numbers on 1, 2 and 3 threads', async () => {
    for (const threads of [1, 2, 3]) {
      const pool = new ShapPool(explainer.kernel, threads);
      try {
        expect(pool.threads).toBe(threads);
        const out = await pool.explainRows(x, rows);
        expect(Array.from(out)).toEqual(Array.from(expected));
        // A second call on the same pool (the counter and workers are reused).
        expect(Array.from(await pool.explainRows(x.subarray(0, 60), 10))).toEqual(
          Array.from(expected.subarray(0, 70)),
        );
      } finally {
        await pool.close();
      }
    }
  });

  it('runs meanwhile while the workers explain, returns its value, and passes on what it throws', async () => {
    for (const threads of [1, 2]) {
      const pool = new ShapPool(explainer.kernel, threads);
      try {
        const done = await pool.explainRowsWhile(x, rows, async () => {
          await new Promise((resolve) => setTimeout(resolve, 10));
          return 42;
        });
        expect(done.meanwhile).toBe(42);
        expect(Array.from(done.contributions)).toEqual(Array.from(expected));
        await expect(
          pool.explainRowsWhile(x, rows, () => {
            throw new Error('side work failed');
          }),
        ).rejects.toThrow('side work failed');
        // The pool stays usable: the failed call's workers finished before it returned.
        expect(Array.from(await pool.explainRows(x.subarray(0, 60), 10))).toEqual(
          Array.from(expected.subarray(0, 70)),
        );
      } finally {
        await pool.close();
      }
    }
  });

  it('refuses a matrix of the wrong size', async () => {
    const pool = new ShapPool(explainer.kernel, 2);
    try {
      await expect(pool.explainRows(x, rows + 1)).rejects.toThrow(/expected 3002 x 6/);
    } finally {
      await pool.close();
    }
  });
});
