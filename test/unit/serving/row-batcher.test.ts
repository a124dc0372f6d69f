import { describe, expect, it } from '@jest/globals';
import { createRowBatcher, type ScoreRows } from '#lib/serving/row-batcher.ts';

/** A deterministic "model": probability of a row = (sum of its features) / 100, one run recorded per call. */
function recordingRun(width: number, fail?: () => boolean): { run: ScoreRows; runs: number[] } {
  const runs: number[] = [];
  const run: ScoreRows = async (features, rows) => {
    if (features.length !== rows * width)
      throw new Error(`bad shape: ${features.length} values for ${rows} rows`);
    runs.push(rows);
    await new Promise((r) => setImmediate(r));
    if (fail?.()) throw new Error('model failed');
    const out = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let c = 0; c < width; c++) s += features[r * width + c];
      out[r] = s / 100;
    }
    return out;
  };
  return { run, runs };
}

const row = (...v: number[]) => new Float32Array(v);

describe('row batcher', () => {
  it('runs calls made in the same turn as one batch and gives each caller its own rows', async () => {
    const { run, runs } = recordingRun(3);
    const batches: Array<[number, number]> = [];
    const score = createRowBatcher(run, { width: 3, onBatch: (rows, calls) => batches.push([rows, calls]) });
    const answers = await Promise.all([
      score(row(1, 2, 3), 1),
      score(row(10, 0, 0, 0, 0, 20), 2),
      score(row(4, 4, 4), 1),
    ]);
    expect(runs).toEqual([4]);
    expect(batches).toEqual([[4, 3]]);
    expect(Array.from(answers[0])).toEqual([Math.fround(0.06)]);
    expect(Array.from(answers[1])).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    expect(Array.from(answers[2])).toEqual([Math.fround(0.12)]);
  });

  it('gives every caller exactly what a run of its own rows gives', async () => {
    const { run } = recordingRun(2);
    const score = createRowBatcher(run, { width: 2 });
    const inputs = Array.from({ length: 20 }, (_, i) => row(i, i * 3 + 1));
    const batched = await Promise.all(inputs.map((x) => score(x, 1)));
    const alone = [];
    for (const x of inputs) alone.push(await run(x, 1));
    expect(batched.map((p) => Array.from(p))).toEqual(alone.map((p) => Array.from(p)));
  });

  it('with outWidth, gives each caller its own rows of a wider answer (TreeSHAP: F + 1 numbers a row)', async () => {
    const runs: number[] = [];
    // Per row: [2x, 3x, x + 0.5] for a width-1 input.
    const explain = createRowBatcher<Float64Array>(
      async (features, rows) => {
        runs.push(rows);
        const out = new Float64Array(rows * 3);
        for (let r = 0; r < rows; r++) out.set([2 * features[r], 3 * features[r], features[r] + 0.5], r * 3);
        return out;
      },
      { width: 1, outWidth: 3 },
    );
    const answers = await Promise.all([explain(row(1), 1), explain(row(2, 3), 2), explain(row(4), 1)]);
    expect(runs).toEqual([4]);
    expect(answers.map((a) => Array.from(a))).toEqual([
      [2, 3, 1.5],
      [4, 6, 2.5, 6, 9, 3.5],
      [8, 12, 4.5],
    ]);
    expect(answers[0]).toBeInstanceOf(Float64Array);
  });

  it('runs a lone call as a batch of one, and calls in later turns as new batches', async () => {
    const { run, runs } = recordingRun(1);
    const score = createRowBatcher(run, { width: 1 });
    expect(Array.from(await score(row(50), 1))).toEqual([0.5]);
    await Promise.all([score(row(1), 1), score(row(2), 1)]);
    expect(runs).toEqual([1, 2]);
  });

  it('passes big calls and mis-shaped calls straight to the model', async () => {
    const { run, runs } = recordingRun(1);
    const score = createRowBatcher(run, { width: 1, maxCallRows: 4 });
    const big = score(new Float32Array(10).fill(1), 10);
    const small = score(row(1), 1);
    await expect(score(new Float32Array(3), 1)).rejects.toThrow(/bad shape/);
    expect(Array.from(await big)).toHaveLength(10);
    await small;
    expect(runs).toEqual([10, 1]);
  });

  it('splits a backlog larger than maxBatchRows into several runs', async () => {
    const { run, runs } = recordingRun(1);
    const score = createRowBatcher(run, { width: 1, maxCallRows: 2, maxBatchRows: 5 });
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => score(row(i), 1)));
    expect(runs).toEqual([5, 5, 2]);
    expect(answers.map((a) => a[0])).toEqual(Array.from({ length: 12 }, (_, i) => Math.fround(i / 100)));
  });

  it('rejects every call of a failed run, and the next turn works again', async () => {
    let failing = true;
    const { run } = recordingRun(1, () => failing);
    const score = createRowBatcher(run, { width: 1 });
    const results = await Promise.allSettled([score(row(1), 1), score(row(2), 1)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    failing = false;
    expect(Array.from(await score(row(3), 1))).toEqual([Math.fround(0.03)]);
  });
});
