import { describe, expect, it } from '@jest/globals';
import { InputError } from '#lib/errors.ts';
import {
  DEFAULT_PUBLISH_GUARD_POLICY,
  PublishRefusedError,
  ROLLBACK_GUARDS,
  evaluatePublishGuards,
  guardPolicyFromEnv,
  parseGuardPolicy,
  type CandidateFacts,
  type ChampionRequirement,
} from '#lib/features/publish-guards.ts';

const COLUMNS = [
  { name: 'loan_id', type: 'BIGINT' },
  { name: 'id', type: 'BIGINT' },
  { name: 'loan_date', type: 'DATE' },
  { name: 'status', type: 'INTEGER' },
  { name: 'nb_previous_loans', type: 'INTEGER' },
  { name: 'avg_amount_loans_previous', type: 'DOUBLE' },
  { name: 'age', type: 'INTEGER' },
];

/** A healthy build: 2,229 customers, 50,000 rows in, none quarantined (the generator's 50k file). */
const healthy = (over: Partial<CandidateFacts> = {}): CandidateFacts => ({
  snapshotId: 'new',
  customers: 2229,
  rowsIn: 50_000,
  rowsQuarantined: 0,
  columns: COLUMNS,
  ...over,
});

const champion = (features: ChampionRequirement['features']): ChampionRequirement => ({
  modelName: 'credit-risk',
  version: 'ab'.repeat(32),
  features,
});

const guard = (over: Partial<Parameters<typeof evaluatePublishGuards>[0]> = {}) =>
  evaluatePublishGuards({ candidate: healthy(), policy: DEFAULT_PUBLISH_GUARD_POLICY, ...over });

describe('publish guards', () => {
  it('let a healthy snapshot through, and say which guards had nothing to check', () => {
    expect(guard({ current: { snapshotId: 'old', customers: 2000 }, champion: null })).toEqual({
      reasons: [],
      notChecked: ['champion columns: no champion model is registered'],
    });
  });

  it('refuse a snapshot without customers: a header-only file and an all-quarantined file', () => {
    const headerOnly = guard({ candidate: healthy({ customers: 0, rowsIn: 0, rowsQuarantined: 0 }) });
    expect(headerOnly.reasons).toEqual([
      {
        guard: 'no_customers',
        message:
          'snapshot new has no valid customers (0 online rows): 0 rows in, 0 quarantined; every /predict would answer 404',
      },
    ]);
    const allBad = guard({ candidate: healthy({ customers: 0, rowsIn: 199, rowsQuarantined: 199 }) });
    expect(allBad.reasons.map((r) => r.guard)).toEqual(['no_customers', 'quarantine_rate']);
    expect(allBad.reasons[1].message).toBe(
      'snapshot new quarantined 199 of 199 rows (100.0%, above the maximum 20.0%)',
    );
  });

  it('refuse fewer customers than the share of the current snapshot, at the configured share', () => {
    const current = { snapshotId: 'old', customers: 1000 };
    expect(guard({ candidate: healthy({ customers: 500 }), current }).reasons).toEqual([]);
    expect(guard({ candidate: healthy({ customers: 499 }), current }).reasons).toEqual([
      {
        guard: 'too_few_customers',
        message:
          'snapshot new has 499 customers, 49.9% of the 1000 of the current snapshot old (the minimum share is 50.0%)',
      },
    ]);
    const lenient = { ...DEFAULT_PUBLISH_GUARD_POLICY, minCustomerShare: 0.4 };
    expect(guard({ candidate: healthy({ customers: 499 }), current, policy: lenient }).reasons).toEqual([]);
    // The same snapshot is no shrink; an unknown count is said, not guessed.
    expect(guard({ candidate: healthy({ snapshotId: 'old', customers: 1 }), current }).reasons).toEqual([]);
    expect(guard({ current: { snapshotId: 'old', customers: null } }).notChecked).toContain(
      'customer share: the current snapshot old records no customer count',
    );
  });

  it('refuse a snapshot missing a column the champion reads, or holding it in another type', () => {
    const verdict = guard({
      champion: champion([
        { name: 'nb_previous_loans', type: 'INTEGER' },
        { name: 'age', type: 'BIGINT' },
        { name: 'years_on_the_job', type: 'INTEGER' },
        { name: 'flag_own_car', type: null },
      ]),
    });
    expect(verdict.reasons).toEqual([
      {
        guard: 'champion_columns',
        message:
          'the champion credit-risk abababababab reads column(s) missing from the snapshot: years_on_the_job, flag_own_car; ' +
          'column(s) of another type: age is INTEGER, trained on BIGINT',
      },
    ]);
    // Without the training snapshot's types, any numeric column converts to the model's float32; text does not.
    const textual = guard({
      candidate: healthy({ columns: [...COLUMNS, { name: 'flag_own_car', type: 'VARCHAR' }] }),
      champion: champion([
        { name: 'avg_amount_loans_previous', type: null },
        { name: 'flag_own_car', type: null },
      ]),
    });
    expect(textual.reasons.map((r) => r.message)).toEqual([
      'the champion credit-risk abababababab reads column(s) of another type: flag_own_car is VARCHAR, not a number',
    ]);
    // A manifest without columns cannot show the champion's: refused, not assumed.
    expect(
      guard({ candidate: healthy({ columns: null }), champion: champion([{ name: 'age', type: null }]) })
        .reasons[0].guard,
    ).toBe('champion_columns');
  });

  it("refuse a quarantine rate above the bound; the generator's dirty example (2%) passes", () => {
    expect(guard({ candidate: healthy({ rowsIn: 50_000, rowsQuarantined: 1_000 }) }).reasons).toEqual([]);
    expect(guard({ candidate: healthy({ rowsIn: 1000, rowsQuarantined: 200 }) }).reasons).toEqual([]);
    expect(guard({ candidate: healthy({ rowsIn: 1000, rowsQuarantined: 201 }) }).reasons).toEqual([
      {
        guard: 'quarantine_rate',
        message: 'snapshot new quarantined 201 of 1000 rows (20.1%, above the maximum 20.0%)',
      },
    ]);
    expect(guard({ candidate: healthy({ rowsIn: null, rowsQuarantined: null }) }).notChecked).toContain(
      'quarantine rate: the manifest of new has no validation counts',
    );
  });

  it('list every reason at once, and run only the guards asked for (a rollback: customers and columns)', () => {
    const bad = {
      candidate: healthy({ customers: 10, rowsIn: 100, rowsQuarantined: 90, columns: [] }),
      current: { snapshotId: 'old', customers: 1000 },
      champion: champion([{ name: 'age', type: 'INTEGER' }]),
    };
    expect(guard(bad).reasons.map((r) => r.guard)).toEqual([
      'too_few_customers',
      'champion_columns',
      'quarantine_rate',
    ]);
    expect(guard({ ...bad, guards: ROLLBACK_GUARDS }).reasons.map((r) => r.guard)).toEqual([
      'champion_columns',
    ]);
  });

  it('a refusal is an InputError (exit 2) named for Step Functions, whose message numbers every reason', () => {
    const e = new PublishRefusedError('new', [
      { guard: 'no_customers', message: 'none' },
      { guard: 'quarantine_rate', message: 'too many' },
    ]);
    expect(e).toBeInstanceOf(InputError);
    expect(e.name).toBe('PublishRefusedError');
    expect(e.code).toBe('PUBLISH_REFUSED');
    expect(e.message).toBe(
      'publish of snapshot new refused, serving left unchanged: (1) no_customers: none; (2) quarantine_rate: too many. ' +
        'Fix the input and build again, or override with --force (audited).',
    );
    expect(e.details).toEqual({ snapshotId: 'new', reasons: e.reasons });
  });
});

describe('guard settings', () => {
  it('take shares from 0 to 1 from flags and environment variables, defaults when unset', () => {
    expect(parseGuardPolicy({})).toEqual({ minCustomerShare: 0.5, maxQuarantineRate: 0.2 });
    expect(parseGuardPolicy({ minCustomerShare: '0', maxQuarantineRate: '1' })).toEqual({
      minCustomerShare: 0,
      maxQuarantineRate: 1,
    });
    expect(
      guardPolicyFromEnv({ PUBLISH_MIN_CUSTOMER_SHARE: '0.25', PUBLISH_MAX_QUARANTINE_RATE: '' }),
    ).toEqual({ minCustomerShare: 0.25, maxQuarantineRate: 0.2 });
  });

  it('refuse anything else, naming the flag or the variable', () => {
    expect(() => parseGuardPolicy({ minCustomerShare: '50%' })).toThrow(
      new InputError('BAD_PUBLISH_GUARD', '--min-customer-share must be a number from 0 to 1, got "50%"'),
    );
    expect(() => parseGuardPolicy({ maxQuarantineRate: '1.5' })).toThrow(/--max-quarantine-rate/);
    expect(() => guardPolicyFromEnv({ PUBLISH_MAX_QUARANTINE_RATE: '-0.1' })).toThrow(
      /PUBLISH_MAX_QUARANTINE_RATE must be a number from 0 to 1/,
    );
  });
});
