import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { S3Client } from '@aws-sdk/client-s3';
import { SFNClient } from '@aws-sdk/client-sfn';
import { CloudWatchMetricsReader } from '#lib/adapters/aws/cloudwatch-metrics-reader.ts';
import {
  FirehosePredictionLog,
  type FirehoseBatchClient,
} from '#lib/adapters/aws/firehose-prediction-log.ts';
import { LambdaAliasDeployer } from '#lib/adapters/aws/lambda-alias-deployer.ts';
import { RdsDataFeatureStore, rdsDataLimitsFrom } from '#lib/adapters/aws/rds-data-feature-store.ts';
import { S3ObjectStore } from '#lib/adapters/aws/s3-object-store.ts';
import { runningExecutionsLister, stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import type { TrainingStarter } from '#lib/monitoring/drift-check.ts';
import type { ListRunningTrainings } from '#lib/pipeline/training-turn.ts';
import { systemClock, type Clock } from '#lib/ports/clock.ts';
import type { Deployer } from '#lib/ports/deployer.ts';
import type { FeatureStore } from '#lib/ports/feature-store.ts';
import type { MetricsReader } from '#lib/ports/metrics-reader.ts';
import type { ObjectStore } from '#lib/ports/object-store.ts';
import type { PredictionLog } from '#lib/ports/prediction-log.ts';
import { logger } from './powertools.ts';

/**
 * The AWS composition root: the one place that picks the AWS adapters. local/root.ts is its
 * embedded twin. Each port is built on first use and then kept for the container's life (SDK
 * clients reuse their connections across invocations), so a function only needs the environment
 * variables of the ports it touches, and importing a handler module never throws.
 *
 * Environment (set per function in serverless.yml):
 * | variable         | port                                   | example                                   |
 * |------------------|----------------------------------------|-------------------------------------------|
 * | RAW_BUCKET       | rawStore: raw loan files               | credit-risk-dev-raw                       |
 * | FEATURES_BUCKET  | featuresStore: snapshots, CURRENT, quarantine | credit-risk-dev-features           |
 * | MODELS_BUCKET    | modelsStore: registry, candidates      | credit-risk-dev-models                    |
 * | DB_CLUSTER_ARN   | featureStore: Aurora cluster (Data API) | arn:aws:rds:eu-west-1:123:cluster:cr-dev |
 * | DB_SECRET_ARN    | featureStore: database credentials secret | arn:aws:secretsmanager:...:secret:...  |
 * | DB_NAME          | featureStore: database name (default creditrisk) | creditrisk                       |
 * | DB_MAX_REQUEST_BYTES, DB_MAX_ROWS_PER_BATCH | featureStore: Data API chunking (default 3 MiB, 2,000 rows) | 90000 |
 * | PREDICT_FUNCTION_NAME | deployer: the predict function whose versions the canary moves | credit-risk-dev-predict |
 * | PREDICT_ALIAS    | deployer: the alias API Gateway calls (default live) | live                             |
 * | TRAINING_STATE_MACHINE_ARN | trainingStarter: the training state machine | arn:aws:states:...:stateMachine:... |
 * | OBJECT_KEY_PREFIX| optional key prefix inside every bucket (e.g. a test namespace) | ''                  |
 * | PREDICTION_LOG_STREAM | predictionLog: the Firehose delivery stream (unset: answers are not recorded) | credit-risk-dev-prediction-log |
 *
 * Shared file: add a port with a small, additive edit.
 */
export interface AwsRoot {
  rawStore: ObjectStore;
  rawBucket: string;
  featuresStore: ObjectStore;
  modelsStore: ObjectStore;
  featureStore: FeatureStore;
  /** Lambda versions and the predict alias's routing (the canary step). */
  deployer: Deployer;
  /** The predict function's CloudWatch metrics per model version (judging the canary). */
  metricsReader: MetricsReader;
  /** Starts training executions and lists the running ones (start-pipeline, drift-check). */
  trainingStarter: TrainingStarter;
  /**
   * The RUNNING executions of the state machine a request names (the training-turn function;
   * ListExecutions on $$.StateMachine.Id, so the function needs no ARN in its environment, which
   * would make it depend on the machine that invokes it: a stack cycle).
   */
  runningTrainings: ListRunningTrainings;
  /** Every served prediction, through Firehose; undefined when PREDICTION_LOG_STREAM is unset. */
  predictionLog: PredictionLog | undefined;
  clock: Clock;
  s3: S3Client;
  rdsData: RDSDataClient;
}

export function requiredEnv(name: string, env: NodeJS.ProcessEnv = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(
      `environment variable ${name} is not set (serverless.yml sets it for the functions that need it)`,
    );
  }
  return value;
}

/** Builds the root over `env`; every member is created on first access. */
export function createAwsRoot(env: NodeJS.ProcessEnv = process.env): AwsRoot {
  const cache = new Map<string, unknown>();
  const once = <T>(name: string, make: () => T): T => {
    if (!cache.has(name)) cache.set(name, make());
    return cache.get(name) as T;
  };
  const prefix = env.OBJECT_KEY_PREFIX ?? '';
  const root: AwsRoot = {
    get s3() {
      return once('s3', () => new S3Client({}));
    },
    get rdsData() {
      // The Data API may hold a statement for 45 s (longer with continueAfterTimeout): the
      // client must not give up first (AWS recommends socket/request timeouts of at least 1 min).
      return once('rdsData', () => new RDSDataClient({ requestHandler: { requestTimeout: 60_000 } }));
    },
    get rawBucket() {
      return requiredEnv('RAW_BUCKET', env);
    },
    get rawStore() {
      return once('rawStore', () => new S3ObjectStore(root.s3, requiredEnv('RAW_BUCKET', env), prefix));
    },
    get featuresStore() {
      return once(
        'featuresStore',
        () => new S3ObjectStore(root.s3, requiredEnv('FEATURES_BUCKET', env), prefix),
      );
    },
    get modelsStore() {
      return once('modelsStore', () => new S3ObjectStore(root.s3, requiredEnv('MODELS_BUCKET', env), prefix));
    },
    get featureStore() {
      return once(
        'featureStore',
        () =>
          new RdsDataFeatureStore(
            root.rdsData,
            {
              resourceArn: requiredEnv('DB_CLUSTER_ARN', env),
              secretArn: requiredEnv('DB_SECRET_ARN', env),
              database: env.DB_NAME || 'creditrisk',
            },
            rdsDataLimitsFrom(env),
          ),
      );
    },
    get deployer() {
      return once(
        'deployer',
        () =>
          new LambdaAliasDeployer(
            new LambdaClient({}),
            requiredEnv('PREDICT_FUNCTION_NAME', env),
            env.PREDICT_ALIAS || 'live',
          ),
      );
    },
    get trainingStarter() {
      // Resolved at its first call: drift-check only starts a run when drift calls for it.
      return once('trainingStarter', (): TrainingStarter => {
        let starter: TrainingStarter | undefined;
        const real = () =>
          (starter ??= stepFunctionsStarter(
            new SFNClient({}),
            requiredEnv('TRAINING_STATE_MACHINE_ARN', env),
          ));
        return { start: (request) => real().start(request), running: () => real().running() };
      });
    },
    get runningTrainings() {
      return once('runningTrainings', () => runningExecutionsLister(() => new SFNClient({})));
    },
    get metricsReader() {
      return once('metricsReader', () => new CloudWatchMetricsReader(new CloudWatchClient({})));
    },
    get predictionLog() {
      return once('predictionLog', () => {
        const stream = env.PREDICTION_LOG_STREAM;
        if (!stream) return undefined;
        return new FirehosePredictionLog(firehoseClient, stream, {
          onError: (message, details) => logger.error(`prediction log: ${message}`, { ...details }),
        });
      });
    },
    clock: systemClock,
  };
  return root;
}

let firehose: Promise<FirehoseBatchClient> | undefined;

/**
 * The Firehose client, loaded on the first flush (never on the answer's path, nor in a cold start
 * that serves no answer).
 */
function firehoseClient(): Promise<FirehoseBatchClient> {
  firehose ??= import('@aws-sdk/client-firehose').then((m) => new m.Firehose({}));
  return firehose;
}

let containerRoot: AwsRoot | undefined;

/** The root of this Lambda container (one per process). */
export function awsRoot(): AwsRoot {
  containerRoot ??= createAwsRoot();
  return containerRoot;
}

/** DuckDB sized from the Lambda's memory: ~1 vCPU per 1,769 MB, and 60% of memory for DuckDB. */
export function featureEngineTuning(env: NodeJS.ProcessEnv = process.env): {
  threads?: number;
  memoryLimit?: string;
} {
  const mb = Number(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
  if (!Number.isFinite(mb) || mb <= 0) return {};
  return {
    threads: Math.max(1, Math.min(6, Math.round(mb / 1769))),
    memoryLimit: `${Math.floor(mb * 0.6)}MB`,
  };
}
