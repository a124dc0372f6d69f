import { describe, expect, it } from '@jest/globals';
import { GetAliasCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createAwsRoot } from '#functions/commons/aws-root.ts';
import { CloudWatchMetricsReader } from '#lib/adapters/aws/cloudwatch-metrics-reader.ts';
import { RdsDataFeatureStore } from '#lib/adapters/aws/rds-data-feature-store.ts';
import { S3ObjectStore } from '#lib/adapters/aws/s3-object-store.ts';

describe('AWS composition root', () => {
  it('builds nothing until asked, then names the missing environment variable', () => {
    const root = createAwsRoot({});
    expect(() => root.featuresStore).toThrow(/FEATURES_BUCKET is not set/);
    expect(() => root.featureStore).toThrow(/DB_CLUSTER_ARN is not set/);
  });

  it('builds S3 stores on the configured buckets and the Data API store, once per container', () => {
    const root = createAwsRoot({
      RAW_BUCKET: 'raw-b',
      FEATURES_BUCKET: 'feat-b',
      MODELS_BUCKET: 'models-b',
      DB_CLUSTER_ARN: 'arn:aws:rds:eu-west-1:1:cluster:c',
      DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:s',
      OBJECT_KEY_PREFIX: 'test-ns',
    });
    expect(root.featuresStore).toBeInstanceOf(S3ObjectStore);
    expect(root.featuresStore.describe('features/CURRENT')).toBe('s3://feat-b/test-ns/features/CURRENT');
    expect(root.rawStore.describe('raw/a.csv')).toBe('s3://raw-b/test-ns/raw/a.csv');
    expect(root.modelsStore.describe('models/m/aliases.json')).toBe(
      's3://models-b/test-ns/models/m/aliases.json',
    );
    expect(root.featureStore).toBeInstanceOf(RdsDataFeatureStore);
    expect(root.featureStore).toBe(root.featureStore);
    expect(root.s3).toBe(root.s3);
  });

  it('points the canary deployer at PREDICT_FUNCTION_NAME and its live alias', async () => {
    expect(() => createAwsRoot({}).deployer).toThrow(/PREDICT_FUNCTION_NAME is not set/);
    const lambda = mockClient(LambdaClient);
    lambda
      .on(GetAliasCommand)
      .resolves({ FunctionVersion: '7', RoutingConfig: { AdditionalVersionWeights: { '8': 0.1 } } });
    try {
      const root = createAwsRoot({ PREDICT_FUNCTION_NAME: 'cr-dev-predict' });
      await root.deployer.routing();
      expect(lambda.commandCalls(GetAliasCommand)[0].args[0].input).toEqual({
        FunctionName: 'cr-dev-predict',
        Name: 'live',
      });
      expect(root.metricsReader).toBeInstanceOf(CloudWatchMetricsReader);
      expect(root.deployer).toBe(root.deployer);
    } finally {
      lambda.restore();
    }
  });
});
