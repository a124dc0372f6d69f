import { beforeEach, describe, expect, it } from '@jest/globals';
import { BatchGetBuildsCommand, CodeBuildClient, StartBuildCommand } from '@aws-sdk/client-codebuild';
import { CloudWatchClient, GetMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import {
  GetAliasCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListVersionsByFunctionCommand,
  PublishVersionCommand,
  ResourceNotFoundException,
  UpdateAliasCommand,
  UpdateFunctionCodeCommand,
} from '@aws-sdk/client-lambda';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { CloudWatchMetricsReader } from '#lib/adapters/aws/cloudwatch-metrics-reader.ts';
import { CodeBuildBuilder } from '#lib/adapters/aws/codebuild-builder.ts';
import { LambdaAliasDeployer } from '#lib/adapters/aws/lambda-alias-deployer.ts';
import { SnsNotifier } from '#lib/adapters/aws/sns-notifier.ts';

const lambda = mockClient(LambdaClient);
const codebuild = mockClient(CodeBuildClient);
const sns = mockClient(SNSClient);
const cloudwatch = mockClient(CloudWatchClient);
const FN = 'credit-risk-prod-predict';
const V = 'a'.repeat(64);
const IMAGE =
  '123456789012.dkr.ecr.eu-west-1.amazonaws.com/credit-risk-prod-predict@sha256:' + 'b'.repeat(64);

beforeEach(() => {
  lambda.reset();
  codebuild.reset();
  sns.reset();
  cloudwatch.reset();
});

describe('LambdaAliasDeployer', () => {
  it('updates the image, waits, publishes a version described by model and build, and waits for it', async () => {
    lambda
      .on(ListVersionsByFunctionCommand)
      .resolves({ Versions: [{ Version: '$LATEST' }, { Version: '3', Description: 'model=x build=y' }] });
    lambda.on(UpdateFunctionCodeCommand).resolves({ CodeSha256: 'sha-of-image' });
    lambda.on(GetFunctionCommand).resolves({ Configuration: { LastUpdateStatus: 'Successful' } });
    lambda.on(PublishVersionCommand).resolves({ Version: '4' });
    lambda.on(GetFunctionConfigurationCommand).resolves({ State: 'Active' });
    const d = new LambdaAliasDeployer(new LambdaClient({}), FN, 'live');
    expect(await d.publish({ modelVersion: V, artifact: IMAGE, buildId: 'proj:42' })).toEqual({
      functionVersion: '4',
      modelVersion: V,
    });
    expect(lambda.commandCalls(UpdateFunctionCodeCommand)[0].args[0].input).toEqual({
      FunctionName: FN,
      ImageUri: IMAGE,
    });
    expect(lambda.commandCalls(PublishVersionCommand)[0].args[0].input).toEqual({
      FunctionName: FN,
      Description: `model=${V} build=proj:42`,
      CodeSha256: 'sha-of-image',
    });
    expect(lambda.commandCalls(GetFunctionConfigurationCommand)[0].args[0].input).toEqual({
      FunctionName: FN,
      Qualifier: '4',
    });
  });

  it('returns the version already published for the same model and build instead of publishing again', async () => {
    lambda
      .on(ListVersionsByFunctionCommand, { FunctionName: FN, Marker: undefined })
      .resolves({ Versions: [{ Version: '1', Description: 'old' }], NextMarker: 'm2' });
    lambda
      .on(ListVersionsByFunctionCommand, { FunctionName: FN, Marker: 'm2' })
      .resolves({ Versions: [{ Version: '7', Description: `model=${V} build=proj:42` }] });
    const d = new LambdaAliasDeployer(new LambdaClient({}), FN, 'live');
    expect(await d.publish({ modelVersion: V, artifact: IMAGE, buildId: 'proj:42' })).toEqual({
      functionVersion: '7',
      modelVersion: V,
    });
    expect(lambda.commandCalls(UpdateFunctionCodeCommand)).toHaveLength(0);
    expect(lambda.commandCalls(PublishVersionCommand)).toHaveLength(0);
  });

  it('sets the whole alias routing in one UpdateAlias and reads it back', async () => {
    lambda.on(UpdateAliasCommand).resolves({});
    lambda
      .on(GetAliasCommand)
      .resolves({ FunctionVersion: '3', RoutingConfig: { AdditionalVersionWeights: { '4': 0.1 } } });
    const d = new LambdaAliasDeployer(new LambdaClient({}), FN, 'live');
    await d.route({ functionVersion: '3', canary: { functionVersion: '4', weight: 0.1 } });
    await d.route({ functionVersion: '4', canary: null });
    expect(lambda.commandCalls(UpdateAliasCommand).map((c) => c.args[0].input)).toEqual([
      {
        FunctionName: FN,
        Name: 'live',
        FunctionVersion: '3',
        RoutingConfig: { AdditionalVersionWeights: { '4': 0.1 } },
      },
      {
        FunctionName: FN,
        Name: 'live',
        FunctionVersion: '4',
        RoutingConfig: { AdditionalVersionWeights: {} },
      },
    ]);
    expect(await d.routing()).toEqual({
      functionVersion: '3',
      canary: { functionVersion: '4', weight: 0.1 },
    });
  });

  it('reads no routing when the alias does not exist, and the model of a version from its description', async () => {
    lambda.on(GetAliasCommand).rejects(new ResourceNotFoundException({ message: 'no alias', $metadata: {} }));
    lambda
      .on(GetFunctionConfigurationCommand, { FunctionName: FN, Qualifier: '4' })
      .resolves({ Description: `model=${V} build=p:1` });
    const d = new LambdaAliasDeployer(new LambdaClient({}), FN, 'live');
    expect(await d.routing()).toBeUndefined();
    expect(await d.modelOf('4')).toBe(V);
  });

  it('finds the newest published version of a model across every page; a stack-deployed version names none', async () => {
    const W = 'c'.repeat(64);
    lambda.on(ListVersionsByFunctionCommand, { FunctionName: FN, Marker: undefined }).resolves({
      Versions: [
        { Version: '$LATEST', Description: `model=${V} build=latest` },
        { Version: '1', Description: `image ${IMAGE}` },
        { Version: '3', Description: `model=${V} build=p:1` },
      ],
      NextMarker: 'm2',
    });
    lambda.on(ListVersionsByFunctionCommand, { FunctionName: FN, Marker: 'm2' }).resolves({
      Versions: [
        { Version: '10', Description: `model=${V} build=p:2` },
        { Version: '11', Description: `model=${W} build=p:3` },
      ],
    });
    const d = new LambdaAliasDeployer(new LambdaClient({}), FN, 'live');
    expect(await d.versionOf(V)).toBe('10'); // numerically newest, not the last string ('3' < '10')
    expect(await d.versionOf(W)).toBe('11');
    expect(await d.versionOf('d'.repeat(64))).toBeUndefined();
    expect(lambda.commandCalls(ListVersionsByFunctionCommand).map((c) => c.args[0].input)).toEqual(
      Array.from({ length: 3 }, () => [
        { FunctionName: FN, Marker: undefined },
        { FunctionName: FN, Marker: 'm2' },
      ]).flat(),
    );
  });
});

describe('CodeBuildBuilder', () => {
  it('starts the image build with the model, polls until it completes and returns IMAGE_URI', async () => {
    codebuild.on(StartBuildCommand).resolves({ build: { id: 'proj:42' } });
    codebuild
      .on(BatchGetBuildsCommand)
      .resolvesOnce({ builds: [{ id: 'proj:42', buildComplete: false }] })
      .resolves({
        builds: [
          {
            id: 'proj:42',
            buildComplete: true,
            buildStatus: 'SUCCEEDED',
            exportedEnvironmentVariables: [{ name: 'IMAGE_URI', value: IMAGE }],
          },
        ],
      });
    const sleeps: number[] = [];
    const b = new CodeBuildBuilder(
      new CodeBuildClient({}),
      'credit-risk-prod-predict-image',
      5,
      async (ms) => void sleeps.push(ms),
    );
    expect(await b.build({ modelName: 'credit-risk', modelVersion: V })).toEqual({
      buildId: 'proj:42',
      artifact: IMAGE,
      reused: false,
    });
    expect(codebuild.commandCalls(StartBuildCommand)[0].args[0].input).toEqual({
      projectName: 'credit-risk-prod-predict-image',
      environmentVariablesOverride: [
        { name: 'MODEL_NAME', value: 'credit-risk', type: 'PLAINTEXT' },
        { name: 'MODEL_VERSION', value: V, type: 'PLAINTEXT' },
      ],
    });
    expect(codebuild.commandCalls(BatchGetBuildsCommand).map((c) => c.args[0].input)).toEqual([
      { ids: ['proj:42'] },
      { ids: ['proj:42'] },
    ]);
    expect(sleeps).toEqual([5]);
  });

  it('fails when the build fails', async () => {
    codebuild.on(StartBuildCommand).resolves({ build: { id: 'proj:43' } });
    codebuild
      .on(BatchGetBuildsCommand)
      .resolves({ builds: [{ buildComplete: true, buildStatus: 'FAILED' }] });
    const b = new CodeBuildBuilder(new CodeBuildClient({}), 'p', 1, async () => {});
    await expect(b.build({ modelName: 'credit-risk', modelVersion: V })).rejects.toThrow(
      'image build proj:43 ended FAILED',
    );
  });
});

describe('SnsNotifier', () => {
  it('publishes subject (cut to SNS 100 chars) and message to the topic', async () => {
    sns.on(PublishCommand).resolves({ MessageId: 'm-1' });
    const n = new SnsNotifier(new SNSClient({}), 'arn:aws:sns:eu-west-1:123456789012:credit-risk');
    expect(await n.notify({ subject: 's'.repeat(150), message: 'hello' })).toBe('m-1');
    expect(sns.commandCalls(PublishCommand)[0].args[0].input).toEqual({
      TopicArn: 'arn:aws:sns:eu-west-1:123456789012:credit-risk',
      Subject: 's'.repeat(100),
      Message: 'hello',
    });
  });
});

describe('CloudWatchMetricsReader', () => {
  it('asks for counts, p99 and buckets of one version over the window in one period, and sums pages', async () => {
    const start = new Date('2025-03-01T10:00:00Z');
    const end = new Date('2025-03-01T10:10:30Z');
    cloudwatch
      .on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'predictions', Values: [900] },
          { Id: 'latency', Values: [35] },
          { Id: 'errors', Values: [2] },
          { Id: 'b0', Values: [500] },
        ],
        NextToken: 't2',
      })
      .resolves({
        MetricDataResults: [
          { Id: 'predictions', Values: [100] },
          { Id: 'latency', Values: [41] },
          { Id: 'b9', Values: [7] },
        ],
      });
    const reader = new CloudWatchMetricsReader(new CloudWatchClient({}));
    expect(await reader.traffic(V, { start, end })).toEqual({
      modelVersion: V,
      predictions: 1000,
      serverErrors: 2,
      p99LatencyMs: 41,
      scoreHistogram: [500, 0, 0, 0, 0, 0, 0, 0, 0, 7],
    });
    const first = cloudwatch.commandCalls(GetMetricDataCommand)[0].args[0].input;
    expect(first).toMatchObject({ StartTime: start, EndTime: end, ScanBy: 'TimestampAscending' });
    expect(first.MetricDataQueries?.slice(0, 3)).toEqual([
      {
        Id: 'predictions',
        MetricStat: {
          Metric: {
            Namespace: 'CreditRisk',
            MetricName: 'predictions',
            Dimensions: [
              { Name: 'service', Value: 'predict' },
              { Name: 'modelVersion', Value: V },
            ],
          },
          Period: 660,
          Stat: 'Sum',
        },
        ReturnData: true,
      },
      {
        Id: 'latency',
        MetricStat: {
          Metric: {
            Namespace: 'CreditRisk',
            MetricName: 'predictionLatency',
            Dimensions: [
              { Name: 'service', Value: 'predict' },
              { Name: 'modelVersion', Value: V },
            ],
          },
          Period: 660,
          Stat: 'p99',
        },
        ReturnData: true,
      },
      {
        Id: 'errors',
        Expression: `SUM(SEARCH('{CreditRisk,errorCode,modelVersion,service} MetricName="serverErrors" modelVersion="${V}" service="predict"', 'Sum', 660))`,
        Period: 660,
        ReturnData: true,
      },
    ]);
    expect(first.MetricDataQueries).toHaveLength(13);
    expect(cloudwatch.commandCalls(GetMetricDataCommand)[1].args[0].input.NextToken).toBe('t2');
  });
});
