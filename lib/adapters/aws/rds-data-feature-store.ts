import {
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RollbackTransactionCommand,
  type Field,
  type RDSDataClient,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import {
  COUNT_STAGING,
  CREATE_SCHEMA,
  CUSTOMER_FEATURE_COLUMNS,
  DELETE_CUSTOMER,
  FINISH_STAGING,
  INSERT_STAGING_ROW,
  PING,
  PREPARE_STAGING,
  SELECT_CURRENT_SNAPSHOT,
  SELECT_CUSTOMER,
  SWAP_IN_STAGING,
  rowFromColumns,
} from '#lib/features/online-store-sql.ts';
import { FeatureStoreUnavailableError, type FeatureStore } from '#lib/ports/feature-store.ts';

/** Where the online store lives: an Aurora PostgreSQL cluster with the Data API enabled. */
export interface RdsDataTarget {
  /** The cluster ARN. */
  resourceArn: string;
  /** The Secrets Manager secret holding the database credentials. */
  secretArn: string;
  database: string;
}

/**
 * Data API limits (AWS documentation, BatchExecuteStatement / BeginTransaction / timeouts):
 * - a request is at most 4 MiB, HTTP headers and JSON included; there is no fixed cap on the
 *   number of parameter sets. We keep the JSON body of each call under 3 MiB, leaving room for
 *   headers (SigV4 adds ~2 KB) and for our size estimate being a little off;
 * - a response is at most 1 MiB: a BatchExecuteStatement answers one small updateResult per
 *   parameter set, and reads here return one row;
 * - a statement is cancelled after 45 s: at most 2,000 rows per batch keeps each call to a few
 *   seconds even on a cold Aurora Serverless v2;
 * - a transaction is rolled back after 3 minutes without a call using its id, or after 24 hours.
 */
export interface RdsDataLimits {
  maxRequestBytes: number;
  maxRowsPerBatch: number;
}

export const RDS_DATA_LIMITS: RdsDataLimits = { maxRequestBytes: 3 * 1024 * 1024, maxRowsPerBatch: 2_000 };

/**
 * The limits from the environment: DB_MAX_REQUEST_BYTES and DB_MAX_ROWS_PER_BATCH override the
 * defaults above (an emulator such as data-api-local takes only ~100 KB per request; a proxy in
 * front of the Data API may take less than 4 MiB). Anything but a positive whole number is refused.
 */
export function rdsDataLimitsFrom(env: Record<string, string | undefined>): RdsDataLimits {
  const read = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min)
      throw new Error(`${name} must be a whole number >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };
  return {
    maxRequestBytes: read('DB_MAX_REQUEST_BYTES', RDS_DATA_LIMITS.maxRequestBytes, 4_096),
    maxRowsPerBatch: read('DB_MAX_ROWS_PER_BATCH', RDS_DATA_LIMITS.maxRowsPerBatch, 1),
  };
}

/**
 * The online feature store on Aurora PostgreSQL through the RDS Data API (no VPC, no connection
 * pool in the Lambda), with the same SQL text as PGlite (lib/features/online-store-sql.ts).
 *
 * A snapshot load is ONE Data API transaction: create staging, fill it with chunked
 * BatchExecuteStatement calls, add the primary key, swap by renaming, commit. Any failure rolls
 * the whole transaction back (PostgreSQL DDL is transactional), so the previous snapshot stays
 * served and no half-filled staging table is left behind. Readers keep reading the live table
 * until the commit: the renames take their exclusive lock only at the very end.
 */
export class RdsDataFeatureStore implements FeatureStore {
  constructor(
    private readonly client: RDSDataClient,
    private readonly target: RdsDataTarget,
    private readonly limits: RdsDataLimits = RDS_DATA_LIMITS,
  ) {}

  private get base(): RdsDataTarget {
    return {
      resourceArn: this.target.resourceArn,
      secretArn: this.target.secretArn,
      database: this.target.database,
    };
  }

  private async execute(sql: string, parameters?: SqlParameter[], transactionId?: string) {
    return this.client.send(
      new ExecuteStatementCommand({
        ...this.base,
        sql,
        ...(parameters ? { parameters } : {}),
        ...(transactionId ? { transactionId } : {}),
      }),
    );
  }

  async init(): Promise<void> {
    await unavailableOnOutage(async () => {
      for (const sql of CREATE_SCHEMA) await this.execute(sql);
    });
  }

  async get(id: string): Promise<CustomerFeatureRow | undefined> {
    const res = await unavailableOnOutage(() =>
      this.execute(SELECT_CUSTOMER, [{ name: 'id', value: { stringValue: id } }]),
    );
    const record = res.records?.[0];
    if (!record) return undefined;
    // Columns come back in SELECT order, which is CUSTOMER_FEATURE_COLUMNS order.
    const byName = new Map(CUSTOMER_FEATURE_COLUMNS.map((c, i) => [c.name as string, fieldValue(record[i])]));
    return rowFromColumns((c) => byName.get(c));
  }

  /**
   * One autocommit DELETE. Aurora's storage is not files anyone can read: the dead tuple is
   * reclaimed by autovacuum, and automated backups keep the row until they expire (the cluster's
   * backup retention, docs/SECURITY.md). A load in flight is one transaction on a staging table
   * swapped in by renames: the DELETE waits for nothing and the erase's publish replaces it.
   */
  async deleteCustomer(id: string): Promise<{ deleted: number }> {
    const res = await unavailableOnOutage(() =>
      this.execute(DELETE_CUSTOMER, [{ name: 'id', value: { stringValue: id } }]),
    );
    return { deleted: res.records?.length ?? 0 };
  }

  async currentSnapshot(): Promise<string | undefined> {
    const res = await unavailableOnOutage(() => this.execute(SELECT_CURRENT_SNAPSHOT));
    const v = res.records?.[0]?.[0];
    return v?.stringValue ?? undefined;
  }

  async ping(): Promise<void> {
    await unavailableOnOutage(() => this.execute(PING));
  }

  async replaceSnapshot(
    snapshotId: string,
    batches: AsyncIterable<CustomerFeatureRow[]> | Iterable<CustomerFeatureRow[]>,
  ): Promise<{ rows: number }> {
    const begin = await unavailableOnOutage(() => this.client.send(new BeginTransactionCommand(this.base)));
    const transactionId = begin.transactionId;
    if (!transactionId)
      throw new FeatureStoreUnavailableError('the Data API began a transaction without an id');
    try {
      for (const sql of PREPARE_STAGING) await this.execute(sql, undefined, transactionId);
      const chunker = new ParameterSetChunker(this.limits, requestOverheadBytes(this.base, transactionId));
      for await (const batch of batches) {
        for (const row of batch) {
          const full = chunker.add(parameterSet(row, snapshotId));
          if (full) await this.insert(full, transactionId);
        }
      }
      const last = chunker.drain();
      if (last) await this.insert(last, transactionId);
      await this.execute(FINISH_STAGING, undefined, transactionId);
      const count = await this.execute(COUNT_STAGING, undefined, transactionId);
      const rows = Number(count.records?.[0]?.[0]?.longValue ?? 0);
      for (const sql of SWAP_IN_STAGING) {
        const parameters = swapParameters(sql, snapshotId, rows);
        await this.execute(sql, parameters, transactionId);
      }
      await this.client.send(
        new CommitTransactionCommand({
          resourceArn: this.target.resourceArn,
          secretArn: this.target.secretArn,
          transactionId,
        }),
      );
      return { rows };
    } catch (e) {
      // Best effort: if the rollback itself fails, the Data API rolls back after 3 idle minutes.
      await this.client
        .send(
          new RollbackTransactionCommand({
            resourceArn: this.target.resourceArn,
            secretArn: this.target.secretArn,
            transactionId,
          }),
        )
        .catch(() => undefined);
      throw asUnavailable(e) ?? e;
    }
  }

  private async insert(parameterSets: SqlParameter[][], transactionId: string): Promise<void> {
    await this.client.send(
      new BatchExecuteStatementCommand({
        ...this.base,
        sql: INSERT_STAGING_ROW,
        parameterSets,
        transactionId,
      }),
    );
  }

  async close(): Promise<void> {
    // Nothing to close: the Data API is HTTPS; the SDK client belongs to the composition root.
  }
}

/** One typed Data API parameter set for a row: dates with typeHint DATE, nulls as isNull. */
export function parameterSet(row: CustomerFeatureRow, snapshotId: string): SqlParameter[] {
  return CUSTOMER_FEATURE_COLUMNS.map((c): SqlParameter => {
    const v = c.field === 'snapshotId' ? snapshotId : row[c.field];
    if (v === null || v === undefined) return { name: c.name, value: { isNull: true } };
    switch (c.kind) {
      case 'string':
        return { name: c.name, value: { stringValue: String(v) } };
      case 'long':
        return { name: c.name, value: { longValue: Number(v) } };
      case 'double':
        return { name: c.name, value: { doubleValue: Number(v) } };
      case 'date':
        return { name: c.name, typeHint: 'DATE', value: { stringValue: String(v) } };
    }
  });
}

function swapParameters(sql: string, snapshotId: string, rows: number): SqlParameter[] | undefined {
  if (!sql.includes(':snapshot_id')) return undefined;
  return [
    { name: 'snapshot_id', value: { stringValue: snapshotId } },
    { name: 'row_count', value: { longValue: rows } },
  ];
}

function requestOverheadBytes(base: RdsDataTarget, transactionId: string): number {
  return Buffer.byteLength(
    JSON.stringify({ ...base, sql: INSERT_STAGING_ROW, transactionId, parameterSets: [] }),
  );
}

/**
 * Groups parameter sets into BatchExecuteStatement calls that stay under the request-size budget
 * and the row cap. The size is the JSON the SDK sends (the Data API is a JSON protocol).
 */
export class ParameterSetChunker {
  private sets: SqlParameter[][] = [];
  private bytes: number;

  constructor(
    private readonly limits: RdsDataLimits,
    private readonly overheadBytes: number,
  ) {
    this.bytes = overheadBytes;
  }

  /** Adds a set; returns the previous chunk when this one would not fit in it. */
  add(set: SqlParameter[]): SqlParameter[][] | undefined {
    const size = Buffer.byteLength(JSON.stringify(set)) + 1; // + the comma between sets
    if (this.overheadBytes + size > this.limits.maxRequestBytes) {
      throw new Error(
        `one row needs ${size} bytes, more than a whole Data API request (${this.limits.maxRequestBytes})`,
      );
    }
    let full: SqlParameter[][] | undefined;
    if (this.sets.length >= this.limits.maxRowsPerBatch || this.bytes + size > this.limits.maxRequestBytes) {
      full = this.drain();
    }
    this.sets.push(set);
    this.bytes += size;
    return full;
  }

  drain(): SqlParameter[][] | undefined {
    if (this.sets.length === 0) return undefined;
    const out = this.sets;
    this.sets = [];
    this.bytes = this.overheadBytes;
    return out;
  }
}

function fieldValue(f: Field | undefined): unknown {
  if (f === undefined || f.isNull) return null;
  if (f.stringValue !== undefined) return f.stringValue;
  if (f.longValue !== undefined) return f.longValue;
  if (f.doubleValue !== undefined) return f.doubleValue;
  if (f.booleanValue !== undefined) return f.booleanValue;
  return null;
}

const OUTAGE_ERRORS = new Set([
  'DatabaseResumingException', // Aurora Serverless v2 waking from a pause: "wait a few seconds and try again"
  'DatabaseUnavailableException',
  'DatabaseNotFoundException',
  'ServiceUnavailableError',
  'InternalServerErrorException',
  'StatementTimeoutException',
  'ThrottlingException',
  'TimeoutError',
  // A transaction idle for 3 minutes (or expired after 24 h) is gone: the load must start over,
  // which the caller's retry does; it is an outage of the load, not a bug in the SQL.
  'TransactionNotFoundException',
]);

/** Connection-level failures the Data API reports as a BadRequest with the driver's text. */
const OUTAGE_MESSAGES =
  /Communications link failure|Connection (?:refused|reset)|is resuming|is not available|SQLState: 08/i;

function asUnavailable(e: unknown): FeatureStoreUnavailableError | undefined {
  if (e instanceof FeatureStoreUnavailableError) return e;
  const name = (e as { name?: string }).name ?? '';
  const message = (e as { message?: string }).message ?? '';
  const code = (e as { code?: string }).code ?? '';
  if (
    OUTAGE_ERRORS.has(name) ||
    OUTAGE_MESSAGES.test(message) ||
    /^E(CONNRESET|CONNREFUSED|TIMEDOUT|PIPE)$|^ENOTFOUND$/.test(code)
  ) {
    return new FeatureStoreUnavailableError(
      `the online feature store (Aurora, Data API) did not answer: ${name}: ${message}`,
      {
        cause: e,
      },
    );
  }
  return undefined;
}

async function unavailableOnOutage<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (e) {
    throw asUnavailable(e) ?? e;
  }
}
