import { InputError } from '#lib/errors.ts';
import { onlineFeatureVector, type CustomerFeatureRow } from '#lib/features/online.ts';
import { LABEL_NOISE_SD, labelScore, sigmoid, type LabelFeatures } from './label.ts';
import { SeededRandom } from './random.ts';

/**
 * `credit-risk data outcomes`: the outcome of each decision the prediction log holds, drawn from
 * the generator's own label relation (lib/data/label.ts) on the customer's features as of the
 * decision date, so that the local loop (serve, outcomes, realized performance) runs end to end
 * with outcomes that depend on the applicant the way the training labels did. Each decision's
 * draw is seeded by (seed, id, date): the same decisions give the same file in any order.
 */
export interface Decision {
  id: string;
  decisionDate: string;
}

export interface DrawnOutcome extends Decision {
  status: 0 | 1;
}

export interface OutcomeDraw {
  outcomes: DrawnOutcome[];
  /** Decisions without an outcome: the customer is no longer in the online store, say. */
  skipped: Array<Decision & { reason: string }>;
}

/** The label model's inputs from an online row on `asOf` (a missing age counts as 42, its low point). */
export function labelFeaturesOf(row: CustomerFeatureRow, asOf: string): LabelFeatures {
  const v = onlineFeatureVector(row, asOf);
  return {
    nbPreviousLoans: v.nb_previous_loans ?? 0,
    avgAmountLoansPrevious: v.avg_amount_loans_previous,
    age: v.age ?? 42,
    yearsOnTheJob: v.years_on_the_job,
    flagOwnCar: v.flag_own_car === 1 ? 1 : 0,
    income: v.amt_income_total ?? 150000,
  };
}

export async function drawOutcomes(
  decisions: readonly Decision[],
  lookup: (id: string) => Promise<CustomerFeatureRow | undefined>,
  options: { seed: number; labelDrift?: number },
): Promise<OutcomeDraw> {
  const out: OutcomeDraw = { outcomes: [], skipped: [] };
  for (const d of decisions) {
    const row = await lookup(d.id);
    if (!row) {
      out.skipped.push({ ...d, reason: 'not in the online store' });
      continue;
    }
    let features: LabelFeatures;
    try {
      features = labelFeaturesOf(row, d.decisionDate);
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      out.skipped.push({ ...d, reason: e.message });
      continue;
    }
    const rng = new SeededRandom(`${options.seed}:${d.id}:${d.decisionDate}`);
    const z = labelScore(features, options.labelDrift ?? 0) + LABEL_NOISE_SD * rng.normal();
    out.outcomes.push({ ...d, status: sigmoid(z) > rng.next() ? 1 : 0 });
  }
  return out;
}

export function outcomesCsv(outcomes: readonly DrawnOutcome[]): string {
  return (
    ['id,decision_date,status', ...outcomes.map((o) => `${o.id},${o.decisionDate},${o.status}`)].join('\n') +
    '\n'
  );
}
