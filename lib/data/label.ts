/**
 * The KNOWN relation between a loan's point-in-time features and its label, used by the generator
 * to draw `status`. It is deliberately nonlinear (a U in age, a saturating effect of the previous
 * average amount, an interaction, a missing-value effect) so that a tree model has something to
 * learn that a straight line misses, and noisy so that nothing is perfectly predictable.
 *
 *   risk score z = intercept
 *     + 1.1                      if the loan is the customer's first (nb_previous_loans = 0)
 *     - 0.35 * min(nb_previous_loans, 20) / 20        (a history makes a customer safer)
 *     + 1.0  * tanh((avg_amount_loans_previous - 110) / 20)      (0 when there is none)
 *     + 0.9  * ((age - 42) / 14)^2                               (young and old are riskier)
 *     - 0.09 * min(years_on_the_job, 10), or + 0.45 when years_on_the_job is missing
 *     - 0.5  * flag_own_car
 *     - 0.55 * clamp(ln(amt_income_total / 150000), -2, 2)
 *     + 0.9                      if nb_previous_loans >= 12 and avg_amount_loans_previous > 120
 *     + noise ~ Normal(0, 0.6)
 *   status = 1 when sigmoid(z) > u, u ~ Uniform(0, 1)
 *
 * The intercept puts the positive rate at about 3% on default data (a few percent, as in the real
 * file). `--drift label:A` blends in a different relation (z = (1 - A) * z + A * z'), where z'
 * reverses the roles of age, car ownership and amount, so a model trained before the drift degrades.
 */
export interface LabelFeatures {
  nbPreviousLoans: number;
  /** null for a first loan. */
  avgAmountLoansPrevious: number | null;
  age: number;
  /** null when the job start is after the loan date (pensioner sentinel or a future start). */
  yearsOnTheJob: number | null;
  flagOwnCar: 0 | 1;
  income: number;
}

export const LABEL_INTERCEPT = -4.65;
export const LABEL_NOISE_SD = 0.6;

/** The default relation's risk score, without noise. */
export function riskScore(f: LabelFeatures): number {
  const nb = f.nbPreviousLoans;
  const avg = f.avgAmountLoansPrevious;
  let z = LABEL_INTERCEPT;
  if (nb === 0) z += 1.1;
  z -= (0.35 * Math.min(nb, 20)) / 20;
  if (avg !== null) z += Math.tanh((avg - 110) / 20);
  const a = (f.age - 42) / 14;
  z += 0.9 * a * a;
  z += f.yearsOnTheJob === null ? 0.45 : -0.09 * Math.min(f.yearsOnTheJob, 10);
  z -= 0.5 * f.flagOwnCar;
  z -= 0.55 * clamp(Math.log(f.income / 150000), -2, 2);
  if (nb >= 12 && avg !== null && avg > 120) z += 0.9;
  return z;
}

/** The relation after `--drift label:1`: other effects, about the same positive rate. */
export function driftedRiskScore(f: LabelFeatures): number {
  const nb = f.nbPreviousLoans;
  const avg = f.avgAmountLoansPrevious;
  let z = LABEL_INTERCEPT + 0.1;
  z += (0.6 * Math.min(nb, 20)) / 20;
  if (avg !== null) z -= Math.tanh((avg - 90) / 20);
  z += 1.2 * ((42 - f.age) / 14 > 0 ? 0 : (f.age - 42) / 14);
  z += 0.7 * f.flagOwnCar;
  z += 0.3 * clamp(Math.log(f.income / 150000), -2, 2);
  return z;
}

export function labelScore(f: LabelFeatures, labelDrift: number): number {
  if (labelDrift === 0) return riskScore(f);
  return (1 - labelDrift) * riskScore(f) + labelDrift * driftedRiskScore(f);
}

export function sigmoid(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

function clamp(x: number, lo: number, hi: number): number {
  return x < lo ? lo : x > hi ? hi : x;
}
