import { describe, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, S3Client, type BucketLocationConstraint } from '@aws-sdk/client-s3';
import { ExecuteStatementCommand, RDSDataClient } from '@aws-sdk/client-rds-data';
import type { RdsDataTarget } from '#lib/adapters/aws/rds-data-feature-store.ts';

/**
 * The AWS API emulators that scripts/test-aws.mjs starts (moto; PostgreSQL behind data-api-local)
 * and passes in the environment: AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_RDS_DATA, MOTO_PORT, ...
 * The SDK clients here are built exactly as functions/commons/aws-root.ts builds them (`{}`): the
 * endpoints come from the SDK's own environment settings, nothing test-only in the adapters.
 */
export const emulatorsUp = process.env.CREDIT_RISK_AWS_EMULATORS === '1';
export const REGION = process.env.AWS_REGION ?? 'eu-west-1';
export const ACCOUNT = '123456789012';

/**
 * describe() for suites that need the emulators. Without them (jest run directly, not through
 * `npm run test:aws`): with CI=true the suite FAILS; otherwise it is skipped with a loud warning.
 */
export function describeWithEmulators(name: string, fn: () => void): void {
  if (emulatorsUp) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the AWS emulators it needs', () => {
        throw new Error(
          'no AWS emulators: run this suite with `npm run test:aws` (CI=true fails instead of skipping)',
        );
      });
    });
    return;
  }
  console.warn(`!!! SKIPPING "${name}": no AWS emulators; run it with \`npm run test:aws\``);
  describe.skip(name, fn);
}

/** A name no other suite on the same emulator uses (moto's state is shared by the whole run). */
export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

export function motoUrl(): string {
  const url = process.env.CREDIT_RISK_MOTO_URL;
  if (!url) throw new Error('CREDIT_RISK_MOTO_URL is not set (run through npm run test:aws)');
  return url;
}

export async function newBucket(s3: S3Client, prefix: string): Promise<string> {
  const bucket = uniqueName(prefix).toLowerCase().slice(0, 63);
  await s3.send(
    new CreateBucketCommand({
      Bucket: bucket,
      CreateBucketConfiguration: { LocationConstraint: REGION as BucketLocationConstraint },
    }),
  );
  return bucket;
}

/**
 * Queues the answers moto's Lambda gives, in order, to the next invocations in this region (its
 * Lambda without Docker runs no code: it answers from this queue, else echoes the payload).
 */
export async function queueLambdaResults(results: unknown[]): Promise<void> {
  const res = await fetch(`${motoUrl()}/moto-api/static/lambda-simple/response`, {
    method: 'POST',
    body: JSON.stringify({ results: results.map((r) => JSON.stringify(r)), region: REGION }),
  });
  if (!res.ok) throw new Error(`moto lambda-simple queue: HTTP ${res.status}`);
}

/** A fresh database on the emulator's PostgreSQL, reached through the Data API like Aurora. */
export async function newDatabase(rds: RDSDataClient, prefix: string): Promise<RdsDataTarget> {
  const database = uniqueName(prefix).replace(/-/g, '_');
  const target: RdsDataTarget = {
    resourceArn: `arn:aws:rds:${REGION}:${ACCOUNT}:cluster:credit-risk-test`,
    secretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:credit-risk-test`,
    database: 'creditrisk',
  };
  await rds.send(new ExecuteStatementCommand({ ...target, sql: `CREATE DATABASE ${database}` }));
  return { ...target, database };
}

/** data-api-local takes at most ~100 KB per request (express' default body limit). */
export const DATA_API_LOCAL_MAX_REQUEST_BYTES = 90_000;

/**
 * An IAM role Lambda may assume (moto checks that a function's role exists). Through IAM's query
 * API: the project has no IAM client, and only the emulator setup needs one.
 */
export async function lambdaRole(name: string): Promise<string> {
  const params = new URLSearchParams({
    Action: 'CreateRole',
    Version: '2010-05-08',
    RoleName: name,
    AssumeRolePolicyDocument: JSON.stringify({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: 'sts:AssumeRole' },
      ],
    }),
  });
  const res = await fetch(motoUrl(), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: params.toString(),
  });
  if (!res.ok) throw new Error(`IAM CreateRole: HTTP ${res.status} ${await res.text()}`);
  return `arn:aws:iam::${ACCOUNT}:role/${name}`;
}
