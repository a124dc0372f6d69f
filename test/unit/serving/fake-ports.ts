import type { CustomerFeatureRow } from '#lib/features/online.ts';
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
