import { Prng } from '#lib/model/gbdt/prng.ts';

/**
 * A small credit-like table for tests: a known nonlinear log-odds with interactions, an
 * informative missing pattern, a binary flag, pure noise and a date column, so a model that
 * learns anything beats a coin, and missing handling matters.
 */
export interface SyntheticTable {
  numRows: number;
  featureNames: string[];
  columns: Float64Array[];
  label: Uint8Array;
  /** Days since 2020-01-01, increasing with the row index (for out-of-time splits). */
  day: Float64Array;
  /** The true probability of each row. */
  truth: Float64Array;
}

export function syntheticTable(numRows: number, seed = 1): SyntheticTable {
  const prng = new Prng(seed);
  const age = new Float64Array(numRows);
  const previous = new Float64Array(numRows);
  const avgAmount = new Float64Array(numRows);
  const years = new Float64Array(numRows);
  const car = new Float64Array(numRows);
  const noise = new Float64Array(numRows);
  const label = new Uint8Array(numRows);
  const day = new Float64Array(numRows);
  const truth = new Float64Array(numRows);
  for (let i = 0; i < numRows; i++) {
    age[i] = 18 + Math.floor(prng.next() * 52);
    previous[i] = Math.floor(-Math.log(1 - prng.next()) * 4);
    avgAmount[i] = previous[i] === 0 ? Number.NaN : Math.round(50 + prng.next() * 150);
    years[i] = prng.next() < 0.15 ? Number.NaN : Math.floor(prng.next() * Math.max(1, age[i] - 18));
    car[i] = prng.next() < 0.4 ? 1 : 0;
    noise[i] = prng.next() * 100;
    day[i] = Math.floor((i / numRows) * 1500);
    let z = -3.2;
    z += 0.9 * Math.exp(-((age[i] - 25) ** 2) / 60);
    z += previous[i] === 0 ? 0.6 : -0.15 * Math.min(previous[i], 8);
    if (!Number.isNaN(avgAmount[i])) z += avgAmount[i] > 150 ? 0.8 : 0;
    z += Number.isNaN(years[i]) ? 0.7 : -0.05 * Math.min(years[i], 20);
    z += car[i] === 1 && age[i] < 30 ? 0.5 : -0.1 * car[i];
    const p = 1 / (1 + Math.exp(-z));
    truth[i] = p;
    label[i] = prng.next() < p ? 1 : 0;
  }
  return {
    numRows,
    featureNames: [
      'age',
      'nb_previous_loans',
      'avg_amount_loans_previous',
      'years_on_the_job',
      'flag_own_car',
      'noise',
    ],
    columns: [age, previous, avgAmount, years, car, noise],
    label,
    day,
    truth,
  };
}
