/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import { mockClient } from 'aws-sdk-client-mock';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEATURE_NAMES } from '#lib/features/catalog.ts';
import { PING, SELECT_CUSTOMER } from '#lib/features/online-store-sql.ts';
import { Prng } from '#lib/model/gbdt/prng.ts';
import { trainModel, writeModelDirectory } from '#lib/model/train.ts';

/**
 * The predict function as the container image runs it: `handler` with a real model baked into
 * MODEL_DIR (loaded while the module loads) and the online store over the RDS Data API, the only
 * AWS part, mocked with the exact request asserted.
 */
const context = {
  awsRequestId: 'req-1',
  functionName: 'predict',
  getRemainingTimeInMillis: () => 3000,
} as unknown as Context;
const work = mkdtempSync(join(tmpdir(), 'cr-predict-aws-'));
const rds = mockClient(RDSDataClient);
const base = {
  resourceArn: 'arn:aws:rds:eu-west-1:123456789012:cluster:cr-test',
  secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cr-test',
  database: 'creditrisk',
};
const savedEnv = { ...process.env };
let modelVersion = '';

beforeAll(async () => {
  // A small table with the catalog's feature columns and a label that depends on them.
  const rng = new Prng(11);
  const lines = [['loan_id', 'id', 'loan_date', 'status', ...FEATURE_NAMES].join(',')];
  for (let i = 0; i < 3000; i++) {
    const x = FEATURE_NAMES.map(() => rng.next() * 10);
    const status = x[0] + x[2] * 0.5 + rng.next() * 6 > 12 ? 1 : 0;
    const day = String(1 + (i % 28)).padStart(2, '0');
    const month = String(1 + Math.floor(i / 250)).padStart(2, '0');
    lines.push(
      [i + 1, 5008804 + (i % 500), `2023-${month}-${day}`, status, ...x.map((v) => v.toFixed(3))].join(','),
    );
  }
  const table = join(work, 'table.csv');
  writeFileSync(table, lines.join('\n') + '\n');
  const trained = await trainModel({
    input: table,
    target: 'status',
    timeColumn: 'loan_date',
    ignore: ['loan_id', 'id'],
    seed: 1,
    params: { numTrees: 10, numLeaves: 8, earlyStoppingRounds: 0, numThreads: 1 },
  });
  await writeModelDirectory(join(work, 'model'), trained);
  modelVersion = trained.version;
  Object.assign(process.env, {
    MODEL_DIR: join(work, 'model'),
    DB_CLUSTER_ARN: base.resourceArn,
    DB_SECRET_ARN: base.secretArn,
  });
  rds.on(ExecuteStatementCommand).resolves({ records: [] });
}, 120_000);

afterAll(() => {
  process.env = savedEnv;
  rds.restore();
});

describe('predict handler entry point (container image)', () => {
  it('answers an unknown customer with 404 after one Data API lookup by id, and a warm-up pings the store', async () => {
    const { handler } = await import('#functions/predict/handler.ts');
    const event = JSON.parse(readFileSync('events/predict-unknown.json', 'utf8')) as Record<string, unknown>;
    const answer = (await handler(event, context)) as { statusCode: number; body: string };
    expect(answer.statusCode).toBe(404);
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: 'UNKNOWN_CUSTOMER' } });
    const id = (JSON.parse(event.body as string) as { id: string }).id;
    expect(rds.commandCalls(ExecuteStatementCommand)[0].args[0].input).toEqual({
      ...base,
      sql: SELECT_CUSTOMER,
      parameters: [{ name: 'id', value: { stringValue: id } }],
    });

    const warm = await handler({ warmer: true }, context);
    expect(warm).toEqual({ warmed: true, modelVersion });
    expect(rds.commandCalls(ExecuteStatementCommand).at(-1)?.args[0].input).toEqual({ ...base, sql: PING });
  });
});
