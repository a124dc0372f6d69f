import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Prng } from '#lib/model/gbdt/prng.ts';
import { FEATURE_NAMES } from '#lib/features/catalog.ts';

/**
 * The benchmark's inputs, shared by every contestant so they train and test on the very same
 * rows: DIR/{train,valid,test}.x.f32 (row-major float32 [n, F], NaN = missing),
 * DIR/{train,valid,test}.y.u8 and DIR/meta.json ({ features, rows: {train, valid, test} }).
 */
export interface BenchSplit {
  features: string[];
  rows: { train: number; valid: number; test: number };
}

// The columns of our feature table, in catalog order, so the synthetic table has the real shape.
const FEATURES = [...FEATURE_NAMES];

/**
 * A synthetic table shaped like our features (same columns, missing patterns and ranges; a few
 * percent positives from a nonlinear relation with interactions), in time order, split 70/15/15
 * oldest-to-newest. Used when no `features build` output is given.
 */
export function writeSyntheticSplit(dir: string, numRows: number, seed = 1): BenchSplit {
  mkdirSync(dir, { recursive: true });
  const prng = new Prng(seed);
  const F = FEATURES.length;
  const cut1 = Math.round(numRows * 0.7);
  const cut2 = Math.round(numRows * 0.85);
  const parts: [string, number, number][] = [
    ['train', 0, cut1],
    ['valid', cut1, cut2],
    ['test', cut2, numRows],
  ];
  for (const [name, from, to] of parts) {
    const n = to - from;
    const x = new Float32Array(n * F);
    const y = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const prev = Math.floor(-Math.log(1 - prng.next()) * 6);
      const avg = prev === 0 ? Number.NaN : Math.round((40 + prng.next() * 160) * 100) / 100;
      const age = 21 + Math.floor(prng.next() * 48);
      const years = prng.next() < 0.17 ? Number.NaN : Math.floor(prng.next() * Math.max(1, age - 20));
      const car = prng.next() < 0.38 ? 1 : 0;
      const since = prev === 0 ? Number.NaN : Math.floor(-Math.log(1 - prng.next()) * 120);
      const income =
        Math.round(Math.exp(11.8 + 0.5 * (prng.next() + prng.next() + prng.next() - 1.5)) / 450) * 450;
      let z = -3.4;
      z += 0.8 * Math.exp(-((age - 26) ** 2) / 50);
      z += prev === 0 ? 0.5 : -0.1 * Math.min(prev, 10);
      if (!Number.isNaN(avg)) z += avg > 160 ? 0.6 : avg < 60 ? -0.3 : 0;
      z += Number.isNaN(years) ? 0.5 : -0.04 * Math.min(years, 25);
      z += car === 1 && age < 30 ? 0.4 : -0.1 * car;
      if (!Number.isNaN(since)) z += since < 15 ? 0.7 : since > 300 ? -0.2 : 0;
      z += income < 90_000 ? 0.35 : income > 300_000 ? -0.25 : 0;
      const o = i * F;
      x[o] = prev;
      x[o + 1] = avg;
      x[o + 2] = age;
      x[o + 3] = years;
      x[o + 4] = car;
      x[o + 5] = since;
      x[o + 6] = income;
      y[i] = prng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
    }
    writeFileSync(join(dir, `${name}.x.f32`), new Uint8Array(x.buffer));
    writeFileSync(join(dir, `${name}.y.u8`), y);
  }
  const meta: BenchSplit = {
    features: FEATURES,
    rows: { train: cut1, valid: cut2 - cut1, test: numRows - cut2 },
  };
  writeFileSync(join(dir, 'meta.json'), JSON.stringify(meta));
  return meta;
}
