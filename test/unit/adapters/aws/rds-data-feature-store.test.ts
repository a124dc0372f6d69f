import { beforeEach, describe, expect, it } from '@jest/globals';
import {
  BadRequestException,
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseResumingException,
  TransactionNotFoundException,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import {
  RDS_DATA_LIMITS,
  RdsDataFeatureStore,
  rdsDataLimitsFrom,
} from '#lib/adapters/aws/rds-data-feature-store.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import {
  COUNT_STAGING,
  CREATE_SCHEMA,
  DELETE_CUSTOMER,
  FINISH_STAGING,
  INSERT_STAGING_ROW,
  PREPARE_STAGING,
  SELECT_CURRENT_SNAPSHOT,
  SELECT_CUSTOMER,
  SWAP_IN_STAGING,
} from '#lib/features/online-store-sql.ts';
import { FeatureStoreUnavailableError } from '#lib/ports/feature-store.ts';

const rdsMock = mockClient(RDSDataClient);
const target = {
  resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:credit-risk-dev',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:credit-risk-dev-db-AbCdEf',
  database: 'credit_risk',
};
const txBase = { resourceArn: target.resourceArn, secretArn: target.secretArn };

function customer(id: number, over: Partial<CustomerFeatureRow> = {}): CustomerFeatureRow {
  return {
    id: String(id),
    snapshotId: 'ignored',
    nbLoans: 3,
    sumLoanAmount: 301.5,
    lastLoanDate: '2021-06-30',
    nbLoansBeforeLastDate: 2,
    sumLoanAmountBeforeLastDate: 200.25,
    previousLoanDate: '2021-01-02',
    birthday: '1980-02-29',
    jobStartDate: null,
    flagOwnCar: 1,
    amtIncomeTotal: 135000,
    ...over,
  };
}

/** The typed parameter set the adapter must send for customer(id). */
function expectedSet(id: number, snapshotId: string) {
  return [
    { name: 'id', value: { stringValue: String(id) } },
    { name: 'snapshot_id', value: { stringValue: snapshotId } },
    { name: 'nb_loans', value: { longValue: 3 } },
    { name: 'sum_loan_amount', value: { doubleValue: 301.5 } },
    { name: 'last_loan_date', typeHint: 'DATE', value: { stringValue: '2021-06-30' } },
    { name: 'nb_loans_before_last_date', value: { longValue: 2 } },
    { name: 'sum_loan_amount_before_last_date', value: { doubleValue: 200.25 } },
    { name: 'previous_loan_date', typeHint: 'DATE', value: { stringValue: '2021-01-02' } },
    { name: 'birthday', typeHint: 'DATE', value: { stringValue: '1980-02-29' } },
    { name: 'job_start_date', value: { isNull: true } },
    { name: 'flag_own_car', value: { longValue: 1 } },
    { name: 'amt_income_total', value: { doubleValue: 135000 } },
  ];
}

describe('RdsDataFeatureStore (aws-sdk-client-mock, exact Data API requests)', () => {
  beforeEach(() => {
    rdsMock.reset();
  });

  it('reads one customer by primary key with a typed parameter and maps the typed fields back', async () => {
    rdsMock.on(ExecuteStatementCommand).resolves({
      records: [
        [
          { stringValue: '5008804' },
          { stringValue: 'snap1' },
          { longValue: 3 },
          { doubleValue: 301.5 },
          { stringValue: '2021-06-30' },
          { longValue: 2 },
          { doubleValue: 200.25 },
          { stringValue: '2021-01-02' },
          { stringValue: '1980-02-29' },
          { isNull: true },
          { longValue: 1 },
          { doubleValue: 135000 },
        ],
      ],
    });
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    expect(await store.get('5008804')).toEqual(customer(5008804, { snapshotId: 'snap1' }));
    expect(rdsMock.commandCalls(ExecuteStatementCommand)[0].args[0].input).toEqual({
      ...target,
      sql: SELECT_CUSTOMER,
      parameters: [{ name: 'id', value: { stringValue: '5008804' } }],
    });
  });

  it('erases one customer with one autocommit DELETE, the id a typed parameter, counting the rows returned', async () => {
    rdsMock
      .on(ExecuteStatementCommand)
      .resolvesOnce({ records: [[{ stringValue: '5008804' }]] })
      .resolves({});
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    expect(await store.deleteCustomer('5008804')).toEqual({ deleted: 1 });
    expect(await store.deleteCustomer('5008804')).toEqual({ deleted: 0 });
    expect(rdsMock.commandCalls(ExecuteStatementCommand)[0].args[0].input).toEqual({
      ...target,
      sql: DELETE_CUSTOMER,
      parameters: [{ name: 'id', value: { stringValue: '5008804' } }],
    });
    expect(rdsMock.commandCalls(BeginTransactionCommand)).toHaveLength(0);
  });

  it('an erase while Aurora resumes is the store being unavailable, not a bug', async () => {
    rdsMock
      .on(ExecuteStatementCommand)
      .rejects(new DatabaseResumingException({ message: 'resuming', $metadata: {} }));
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    await expect(store.deleteCustomer('5008804')).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
  });

  it('reads an unknown customer as undefined and the current snapshot from feature_snapshots', async () => {
    rdsMock.on(ExecuteStatementCommand, { sql: SELECT_CUSTOMER }).resolves({ records: [] });
    rdsMock
      .on(ExecuteStatementCommand, { sql: SELECT_CURRENT_SNAPSHOT })
      .resolves({ records: [[{ stringValue: 'snap9' }]] });
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    expect(await store.get('1')).toBeUndefined();
    expect(await store.currentSnapshot()).toBe('snap9');
  });

  it('creates the schema with one statement per call, outside any transaction', async () => {
    rdsMock.on(ExecuteStatementCommand).resolves({});
    await new RdsDataFeatureStore(new RDSDataClient({}), target).init();
    expect(rdsMock.commandCalls(ExecuteStatementCommand).map((c) => c.args[0].input)).toEqual(
      CREATE_SCHEMA.map((sql) => ({ ...target, sql })),
    );
  });

  it('loads a snapshot in one transaction: staging, chunked typed batches, primary key, swap, commit', async () => {
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-1' });
    // the catch-all first: aws-sdk-client-mock lets a later, more specific matcher win
    rdsMock.on(ExecuteStatementCommand).resolves({});
    rdsMock.on(ExecuteStatementCommand, { sql: COUNT_STAGING }).resolves({ records: [[{ longValue: 5 }]] });
    rdsMock.on(BatchExecuteStatementCommand).resolves({ updateResults: [] });
    rdsMock.on(CommitTransactionCommand).resolves({ transactionStatus: 'Transaction Committed' });
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target, {
      maxRequestBytes: 3 * 1024 * 1024,
      maxRowsPerBatch: 2,
    });

    const res = await store.replaceSnapshot('snap2', [
      [customer(1), customer(2), customer(3)],
      [customer(4), customer(5)],
    ]);
    expect(res).toEqual({ rows: 5 });

    const calls = rdsMock.calls().map((c) => [c.args[0].constructor.name, c.args[0].input]);
    const tx = { ...target, transactionId: 'tx-1' };
    const batch = (ids: number[]) => [
      'BatchExecuteStatementCommand',
      { ...tx, sql: INSERT_STAGING_ROW, parameterSets: ids.map((id) => expectedSet(id, 'snap2')) },
    ];
    expect(calls).toEqual([
      ['BeginTransactionCommand', target],
      ...PREPARE_STAGING.map((sql) => ['ExecuteStatementCommand', { ...tx, sql }]),
      batch([1, 2]),
      batch([3, 4]),
      batch([5]),
      ['ExecuteStatementCommand', { ...tx, sql: FINISH_STAGING }],
      ['ExecuteStatementCommand', { ...tx, sql: COUNT_STAGING }],
      ...SWAP_IN_STAGING.map((sql) => [
        'ExecuteStatementCommand',
        sql.includes(':snapshot_id')
          ? {
              ...tx,
              sql,
              parameters: [
                { name: 'snapshot_id', value: { stringValue: 'snap2' } },
                { name: 'row_count', value: { longValue: 5 } },
              ],
            }
          : { ...tx, sql },
      ]),
      ['CommitTransactionCommand', { ...txBase, transactionId: 'tx-1' }],
    ]);
  });

  it('splits batches by request size, keeping every call under the byte budget', async () => {
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-2' });
    // the catch-all first: aws-sdk-client-mock lets a later, more specific matcher win
    rdsMock.on(ExecuteStatementCommand).resolves({});
    rdsMock.on(ExecuteStatementCommand, { sql: COUNT_STAGING }).resolves({ records: [[{ longValue: 40 }]] });
    rdsMock.on(BatchExecuteStatementCommand).resolves({});
    rdsMock.on(CommitTransactionCommand).resolves({});
    const budget = 6_000;
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target, {
      maxRequestBytes: budget,
      maxRowsPerBatch: 1_000,
    });
    await store.replaceSnapshot('snap3', [Array.from({ length: 40 }, (_, i) => customer(i))]);
    const batches = rdsMock.commandCalls(BatchExecuteStatementCommand).map((c) => c.args[0].input);
    expect(batches.length).toBeGreaterThan(3);
    expect(batches.flatMap((b) => b.parameterSets ?? [])).toHaveLength(40);
    for (const b of batches) expect(Buffer.byteLength(JSON.stringify(b))).toBeLessThanOrEqual(budget);
  });

  it('rolls back when a batch fails, never commits, and reports the failure', async () => {
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-3' });
    rdsMock.on(ExecuteStatementCommand).resolves({});
    rdsMock
      .on(BatchExecuteStatementCommand)
      .resolvesOnce({})
      .rejectsOnce(new BadRequestException({ message: 'ERROR: value too long for type', $metadata: {} }));
    rdsMock.on(RollbackTransactionCommand).resolves({ transactionStatus: 'Rollback Complete' });
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target, {
      maxRequestBytes: 3 * 1024 * 1024,
      maxRowsPerBatch: 1,
    });
    await expect(store.replaceSnapshot('snap4', [[customer(1), customer(2), customer(3)]])).rejects.toThrow(
      'value too long',
    );
    expect(rdsMock.commandCalls(CommitTransactionCommand)).toHaveLength(0);
    expect(rdsMock.commandCalls(BatchExecuteStatementCommand)).toHaveLength(2);
    expect(rdsMock.commandCalls(RollbackTransactionCommand)[0].args[0].input).toEqual({
      ...txBase,
      transactionId: 'tx-3',
    });
  });

  it('rolls back when reading the snapshot fails half way', async () => {
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-5' });
    rdsMock.on(ExecuteStatementCommand).resolves({});
    rdsMock.on(BatchExecuteStatementCommand).resolves({});
    rdsMock.on(RollbackTransactionCommand).resolves({});
    async function* failing() {
      yield [customer(1)];
      throw new Error('parquet read failed');
    }
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    await expect(store.replaceSnapshot('snap5', failing())).rejects.toThrow('parquet read failed');
    expect(rdsMock.commandCalls(RollbackTransactionCommand)[0].args[0].input).toEqual({
      ...txBase,
      transactionId: 'tx-5',
    });
    expect(rdsMock.commandCalls(CommitTransactionCommand)).toHaveLength(0);
  });

  it('maps Aurora resuming and lost connections to FeatureStoreUnavailableError, and leaves SQL errors alone', async () => {
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    rdsMock
      .on(ExecuteStatementCommand)
      .rejectsOnce(new DatabaseResumingException({ message: 'resuming', $metadata: {} }))
      .rejectsOnce(
        new BadRequestException({
          message: 'Communications link failure\n\nThe last packet sent successfully...',
          $metadata: {},
        }),
      )
      .rejectsOnce(
        new BadRequestException({
          message: 'ERROR: relation "customer_features" does not exist',
          $metadata: {},
        }),
      );
    await expect(store.get('1')).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
    await expect(store.ping()).rejects.toBeInstanceOf(FeatureStoreUnavailableError);
    const err = await store.get('1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestException);
  });

  it('maps a transaction the Data API already dropped (idle timeout) to FeatureStoreUnavailableError, so the load is retried', async () => {
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-7' });
    rdsMock.on(ExecuteStatementCommand).resolves({});
    rdsMock
      .on(BatchExecuteStatementCommand)
      .rejects(new TransactionNotFoundException({ message: 'Transaction tx-7 is not found', $metadata: {} }));
    rdsMock
      .on(RollbackTransactionCommand)
      .rejects(new TransactionNotFoundException({ message: 'Transaction tx-7 is not found', $metadata: {} }));
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target);
    const err = await store.replaceSnapshot('s7', [[customer(1)]]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FeatureStoreUnavailableError);
    expect((err as Error).message).toContain('TransactionNotFoundException');
    expect(rdsMock.commandCalls(RollbackTransactionCommand)[0].args[0].input).toEqual({
      ...txBase,
      transactionId: 'tx-7',
    });
    expect(rdsMock.commandCalls(CommitTransactionCommand)).toHaveLength(0);
  });

  it('refuses a row that alone would not fit in a request, and rolls back', async () => {
    rdsMock.on(BeginTransactionCommand).resolves({ transactionId: 'tx-6' });
    rdsMock.on(ExecuteStatementCommand).resolves({});
    rdsMock.on(RollbackTransactionCommand).resolves({});
    const store = new RdsDataFeatureStore(new RDSDataClient({}), target, {
      maxRequestBytes: 700,
      maxRowsPerBatch: 10,
    });
    await expect(store.replaceSnapshot('s', [[customer(1)]])).rejects.toThrow(
      /more than a whole Data API request/,
    );
    expect(rdsMock.commandCalls(RollbackTransactionCommand)).toHaveLength(1);
  });
});

describe('rdsDataLimitsFrom (the chunk size is a setting)', () => {
  it('keeps the Data API defaults when nothing is set', () => {
    expect(rdsDataLimitsFrom({})).toEqual(RDS_DATA_LIMITS);
  });

  it('takes DB_MAX_REQUEST_BYTES and DB_MAX_ROWS_PER_BATCH', () => {
    expect(rdsDataLimitsFrom({ DB_MAX_REQUEST_BYTES: '90000', DB_MAX_ROWS_PER_BATCH: '50' })).toEqual({
      maxRequestBytes: 90_000,
      maxRowsPerBatch: 50,
    });
  });

  it('refuses a value that is not a positive whole number, naming the variable', () => {
    expect(() => rdsDataLimitsFrom({ DB_MAX_REQUEST_BYTES: '100kb' })).toThrow(/DB_MAX_REQUEST_BYTES/);
    expect(() => rdsDataLimitsFrom({ DB_MAX_ROWS_PER_BATCH: '0' })).toThrow(/DB_MAX_ROWS_PER_BATCH/);
  });
});
