import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { TreeShapExplainer, type ExplainableModel } from '#lib/model/shap.ts';
import { FeatureStoreUnavailableError, type FeatureStore } from '#lib/ports/feature-store.ts';
import type { ServingModel } from '#lib/serving/predictor.ts';

/** A customer row as the online store returns it, with overridable fields. */
export function customerRow(overrides: Partial<CustomerFeatureRow> = {}): CustomerFeatureRow {
  return {
    id: '5008827',
    snapshotId: 'snap-test',
    nbLoans: 4,
    sumLoanAmount: 400,
    lastLoanDate: '2024-03-01',
    nbLoansBeforeLastDate: 3,
    sumLoanAmountBeforeLastDate: 270,
    birthday: '1990-06-15',
    jobStartDate: '2015-01-10',
    flagOwnCar: 1,
    previousLoanDate: '2024-01-15',
    amtIncomeTotal: 120000,
    ...overrides,
  };
}

/**
 * An in-memory FeatureStore whose availability the test switches: `down = true` makes every call
 * fail like an unreachable database, `down = false` brings it back.
 */
export class MemoryFeatureStore implements FeatureStore {
  down = false;
  pings = 0;
  gets = 0;
  private readonly rows = new Map<string, CustomerFeatureRow>();

  constructor(rows: CustomerFeatureRow[] = [customerRow()]) {
    for (const r of rows) this.rows.set(r.id, r);
  }

  private check(): void {
    if (this.down) throw new FeatureStoreUnavailableError('connection refused (test)');
  }

  async init(): Promise<void> {}
  async replaceSnapshot(): Promise<{ rows: number }> {
    throw new Error('not used by serving');
  }
  async get(id: string): Promise<CustomerFeatureRow | undefined> {
    this.check();
    this.gets++;
    return this.rows.get(id);
  }
  async deleteCustomer(id: string): Promise<{ deleted: number }> {
    this.check();
    return { deleted: this.rows.delete(id) ? 1 : 0 };
  }
  async currentSnapshot(): Promise<string | undefined> {
    this.check();
    return [...this.rows.values()][0]?.snapshotId;
  }
  async ping(): Promise<void> {
    this.check();
    this.pings++;
  }
  async close(): Promise<void> {}
}

/**
 * A model with a known formula, so tests can check the vector it was given: probability is a
 * logistic function of nb_previous_loans, and every input row is recorded.
 */
export class RecordingModel implements ServingModel {
  readonly calls: Float32Array[] = [];
  constructor(
    readonly version = 'v-test-1',
    readonly featureNames: readonly string[] = [
      'nb_previous_loans',
      'avg_amount_loans_previous',
      'age',
      'years_on_the_job',
      'flag_own_car',
    ],
    readonly threshold = 0.5,
    private readonly probability: (row: Float32Array) => number = (row) => 1 / (1 + Math.exp(-(row[0] - 3))),
  ) {}

  async scoreRows(features: Float32Array, rows: number): Promise<Float32Array> {
    const width = this.featureNames.length;
    const out = new Float32Array(rows);
    for (let r = 0; r < rows; r++) {
      const row = features.slice(r * width, (r + 1) * width);
      this.calls.push(row);
      out[r] = this.probability(row);
    }
    return out;
  }
}

/** The features of StumpModel, in its input order. */
export const STUMP_FEATURES = ['nb_previous_loans', 'years_on_the_job', 'age', 'flag_own_car'] as const;

/**
 * Three stumps with known TreeSHAP values (a stump's contribution is the row's leaf value minus
 * the cover-weighted mean of its leaves), and a scorer that is sigmoid of the same trees:
 *   nb_previous_loans < 2.5: +1 (cover 40) else -1 (cover 60)          mean -0.2
 *   years_on_the_job < 3.5 or missing: +0.5 (cover 30) else -0.5 (70)  mean -0.2
 *   age < 30: +0.25 (cover 50) else -0.25 (cover 50)                   mean 0
 * flag_own_car is never split on (contribution 0). Base score -1, bias -1.4.
 */
export function stumpModel(typicalValues?: (number | null)[]): ServingModel & { trees: ExplainableModel } {
  const stump = (feature: number, threshold: number, missingLeft: number, v: number, coverLeft: number) => ({
    feature: [feature, -1, -1],
    threshold: [threshold, 0, 0],
    missingLeft: [missingLeft, 0, 0],
    left: [1, -1, -1],
    right: [2, -1, -1],
    value: [0, v, -v],
    count: [100, coverLeft, 100 - coverLeft],
  });
  const trees: ExplainableModel = {
    numFeatures: STUMP_FEATURES.length,
    baseScore: -1,
    trees: [stump(0, 2.5, 0, 1, 40), stump(1, 3.5, 1, 0.5, 30), stump(2, 30, 0, 0.25, 50)],
  };
  const explainer = TreeShapExplainer.fromModel(trees, { featureNames: [...STUMP_FEATURES] });
  const margin = (x: Float32Array) => {
    let sum = trees.baseScore;
    for (const t of trees.trees) {
      const v = x[t.feature[0]];
      const left = Number.isNaN(v) ? t.missingLeft[0] === 1 : v < t.threshold[0];
      sum += t.value[left ? 1 : 2];
    }
    return sum;
  };
  return {
    version: 'v-stumps',
    featureNames: [...STUMP_FEATURES],
    threshold: 0.5,
    explainer,
    typicalValues,
    trees,
    async scoreRows(features: Float32Array, rows: number): Promise<Float32Array> {
      const F = STUMP_FEATURES.length;
      const out = new Float32Array(rows);
      for (let r = 0; r < rows; r++)
        out[r] = 1 / (1 + Math.exp(-margin(features.subarray(r * F, (r + 1) * F))));
      return out;
    },
  };
}
