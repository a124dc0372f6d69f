import { expect, it } from '@jest/globals';
import {
  CreateAliasCommand,
  CreateFunctionCommand,
  LambdaClient,
  PublishVersionCommand,
} from '@aws-sdk/client-lambda';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { ListBucketsCommand, S3Client } from '@aws-sdk/client-s3';
import { createAwsRoot } from '#functions/commons/aws-root.ts';
import { customers } from '../contracts/feature-store.contract.ts';
import {
  describeWithEmulators,
  lambdaRole,
  newBucket,
  newDatabase,
  uniqueName,
} from './support/emulators.ts';

/**
 * The composition root's clients are built with no endpoint (`new S3Client({})`, ...): the SDK's
 * own settings AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> must send each to its emulator,
 * the Data API to data-api-local and everything else to moto, with nothing test-only in the code.
 */
describeWithEmulators('functions/commons/aws-root.ts on the SDK endpoint settings', () => {
  it('S3 (AWS_ENDPOINT_URL), the Data API (AWS_ENDPOINT_URL_RDS_DATA) and Lambda reach their emulators', async () => {
    expect(process.env.AWS_ENDPOINT_URL).not.toBe(process.env.AWS_ENDPOINT_URL_RDS_DATA);
    const s3 = new S3Client({});
    const bucket = await newBucket(s3, 'cr-root');
    s3.destroy();
    const rds = new RDSDataClient({});
    const db = await newDatabase(rds, 'cr_root');
    rds.destroy();
    const lambda = new LambdaClient({});
    const functionName = uniqueName('predict');
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: functionName,
        PackageType: 'Image',
        Code: { ImageUri: `123456789012.dkr.ecr.eu-west-1.amazonaws.com/predict@sha256:${'1'.repeat(64)}` },
        Role: await lambdaRole(uniqueName('predict-role')),
      }),
    );
    const v1 = await lambda.send(new PublishVersionCommand({ FunctionName: functionName }));
    await lambda.send(
      new CreateAliasCommand({ FunctionName: functionName, Name: 'live', FunctionVersion: v1.Version }),
    );
    lambda.destroy();

    const root = createAwsRoot({
      ...process.env,
      FEATURES_BUCKET: bucket,
      DB_CLUSTER_ARN: db.resourceArn,
      DB_SECRET_ARN: db.secretArn,
      DB_NAME: db.database,
      PREDICT_FUNCTION_NAME: functionName,
    });
    try {
      const buckets = await root.s3.send(new ListBucketsCommand({}));
      expect(buckets.Buckets?.map((b) => b.Name)).toContain(bucket);
      // Rows written and read back: only the PostgreSQL behind data-api-local keeps them.
      await root.featureStore.init();
      await root.featureStore.replaceSnapshot('S', [customers('S', 0, 3)]);
      expect((await root.featureStore.get('2'))?.snapshotId).toBe('S');
      expect(await root.deployer.routing()).toEqual({ functionVersion: v1.Version, canary: null });
    } finally {
      root.s3.destroy();
      root.rdsData.destroy();
    }
  });
});
