/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteFunctionCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { generateLoans } from '#lib/data/generate.ts';
import type { TurnDecision } from '#lib/pipeline/training-turn.ts';
import { createAwsRoot } from '#functions/commons/aws-root.ts';
import {
  DATA_API_LOCAL_MAX_REQUEST_BYTES,
  describeWithEmulators,
  newBucket,
  newDatabase,
  queueLambdaResults,
  uniqueName,
} from './support/emulators.ts';
import {
  cli,
  deployStack,
  finished,
  history,
  lambdaPayloads,
  reached,
  receivedNotifications,
  type EmulatedStack,
} from './support/deployment.ts';

/**
 * The training state machine (state-machines/training.asl.json) on moto's ASL interpreter,
 * created with the deploy-time substitutions, started through the real starter and read back
 * through `credit-risk aws pipeline status|history`.
 *
 * moto runs no Lambda code without Docker: its Lambda answers each invoke from a queue. The
 * answers queued here are what the real handlers (extract-features, train, evaluate) answered when
 * this test ran them in-process on the same emulators, with the payloads the machine then sends
 * (checked against the execution history): the raw file in moto S3, the feature snapshot published
 * to S3 and through the Data API to PostgreSQL, the candidate written to S3.
 */
const context = {
  awsRequestId: 'req-aws-emulator',
  functionName: 'emulated',
  getRemainingTimeInMillis: () => 900_000,
} as unknown as Context;
const MODEL_NAME = 'credit-risk';
const RAW_KEY = 'raw/2024/loans.csv';
const work = mkdtempSync(join(tmpdir(), 'cr-aws-training-'));
const savedEnv = { ...process.env };
const sfn = new SFNClient({});
const s3 = new S3Client({});
let stack: EmulatedStack;
let trainingArn: string;

type Handler = (event: unknown, context: Context) => Promise<unknown>;
let turnFn: Handler;
let extract: Handler;
let train: Handler;
let evaluate: Handler;

/** The execution input after the machine's Defaults + Configure (States.JsonMerge). */
function configOf(input: Record<string, unknown>): Record<string, unknown> {
  return {
    input: 'raw/',
    trigger: 'manual',
    canaryWeight: 0.1,
    largeInputBytes: 2_000_000_000,
    train: {},
    gate: {},
    canary: {},
    canaryDeadlineSeconds: 1800,
    maxTurnWaitSeconds: 7200,
    ...input,
  };
}

describeWithEmulators('training state machine on moto, answered by the real handlers', () => {
  beforeAll(async () => {
    const buckets = {
      raw: await newBucket(s3, 'cr-raw'),
      features: await newBucket(s3, 'cr-features'),
      models: await newBucket(s3, 'cr-models'),
    };
    const rds = new RDSDataClient({});
    const db = await newDatabase(rds, 'cr_training');
    rds.destroy();
    // The functions' environment (serverless.yml), read by the AWS composition root on first use.
    Object.assign(process.env, {
      RAW_BUCKET: buckets.raw,
      FEATURES_BUCKET: buckets.features,
      MODELS_BUCKET: buckets.models,
      DB_CLUSTER_ARN: db.resourceArn,
      DB_SECRET_ARN: db.secretArn,
      DB_NAME: db.database,
      DB_MAX_REQUEST_BYTES: String(DATA_API_LOCAL_MAX_REQUEST_BYTES),
      TMPDIR: work,
    });
    const raw = join(work, 'loans.csv');
    generateLoans({ rows: 4000, seed: 20, out: raw });
    await s3.send(new PutObjectCommand({ Bucket: buckets.raw, Key: RAW_KEY, Body: readFileSync(raw) }));
    stack = await deployStack({ buckets, modelName: MODEL_NAME });
    trainingArn = stack.stateMachineArn('training');
    turnFn = (await import('#functions/training-turn/handler.ts')).handler as Handler;
    extract = (await import('#functions/extract-features/handler.ts')).handler as Handler;
    train = (await import('#functions/train/handler.ts')).handler as Handler;
    evaluate = (await import('#functions/evaluate/handler.ts')).handler as Handler;
  }, 120_000);

  afterAll(async () => {
    process.env = savedEnv;
    sfn.destroy();
    s3.destroy();
  });

  const training = { numTrees: 10, numLeaves: 8, minDataInLeaf: 10, earlyStoppingRounds: 0, numThreads: 1 };
  let rejected: { name: string; arn: string; version: string; snapshotId: string };

  it('the rejected path: features published through the Data API, a candidate trained, the gate says no, SNS tells', async () => {
    const name = uniqueName('rejected');
    const input = { input: RAW_KEY, train: training, gate: { minAuc: 0.999 } };
    const config = configOf(input);
    const turn = await turnFn(
      {
        stage: 'turn',
        stateMachine: trainingArn,
        execution: { id: `${trainingArn}:${name}`, name, startTime: new Date().toISOString() },
        maxWaitSeconds: 7200,
      },
      context,
    );
    expect(turn).toMatchObject({ proceed: true, ahead: [] });
    const features = (await extract(config, context)) as { snapshotId: string; rowsIn: number };
    expect(features.rowsIn).toBe(4000);
    const trainPayload = {
      snapshotId: features.snapshotId,
      featuresKey: `features/snapshot=${features.snapshotId}/part-00000.parquet`,
      params: training,
      // $$.Execution.Name: the card's lineage.runId
      runId: name,
    };
    const candidate = (await train(trainPayload, context)) as { candidateKey: string; version: string };
    const evaluatePayload = {
      candidateKey: candidate.candidateKey,
      name: MODEL_NAME,
      gate: { minAuc: 0.999 },
    };
    const evaluation = (await evaluate(evaluatePayload, context)) as {
      gate: { pass: boolean; reasons: string[] };
    };
    expect(evaluation.gate.pass).toBe(false);
    await queueLambdaResults([turn, features, candidate, evaluation]);

    const starter = stepFunctionsStarter(sfn, trainingArn);
    const started = await starter.start({ name, input });
    expect(started.started).toBe(true);
    expect(await finished(sfn, started.executionId)).toBe('SUCCEEDED');
    rejected = {
      name,
      arn: started.executionId,
      version: candidate.version,
      snapshotId: features.snapshotId,
    };

    // The machine sent exactly the payloads the handlers answered above.
    const sent = lambdaPayloads(await history(sfn, started.executionId));
    expect(sent.map((s) => s.state)).toEqual(['AwaitTurn', 'ExtractFeatures', 'Train', 'Evaluate']);
    expect(sent[1].payload).toEqual(config);
    expect(sent[2].payload).toEqual(trainPayload);
    expect(sent[3].payload).toEqual(evaluatePayload);

    const status = cli(['aws', 'pipeline', 'status', name, '--json', '--state-machine-arn', trainingArn]);
    expect(status.stderr).toBe('');
    const view = JSON.parse(status.stdout) as {
      status: string;
      decision: string;
      modelVersion: string;
      states: Array<{ name: string; error: unknown; ms: number | null }>;
    };
    expect(view).toMatchObject({
      status: 'SUCCEEDED',
      decision: 'rejected',
      modelVersion: candidate.version,
    });
    expect(view.states.map((s) => s.name)).toEqual([
      'Defaults',
      'Configure',
      'AwaitTurn',
      'TurnToRun',
      'InputIsPrefix',
      'ChooseFeatureEngine',
      'ExtractFeatures',
      'TuneOrTrain',
      'Train',
      'Evaluate',
      'QualityGate',
      'NotifyRejected',
      'MarkRejected',
      'Rejected',
    ]);
    expect(view.states.every((s) => s.error === null && s.ms !== null)).toBe(true);

    const notes = await receivedNotifications(stack.queueUrl);
    expect(notes).toHaveLength(1);
    expect(notes[0].subject).toBe('credit-risk: model rejected by the quality gate');
    expect(notes[0].message).toContain(name);
    expect(notes[0].message).toMatch(/auc/);
  }, 180_000);

  it('the online store now serves the snapshot the run published through the Data API', async () => {
    const root = createAwsRoot();
    try {
      expect(await root.featureStore.currentSnapshot()).toBe(rejected.snapshotId);
      // The raw file's columns: loan_id, id, ...
      const id = readFileSync(join(work, 'loans.csv'), 'utf8').split('\n')[1].split(',')[1];
      const row = await root.featureStore.get(id);
      expect(row).toMatchObject({ id, snapshotId: rejected.snapshotId });
    } finally {
      root.rdsData.destroy();
    }
  });

  it('/predict (the predict entry point, its model baked in MODEL_DIR) answers from the Data API store', async () => {
    const root = createAwsRoot();
    const dir = join(work, 'model');
    mkdirSync(dir, { recursive: true });
    for (const f of ['model.onnx', 'card.json'])
      await root.modelsStore.download(`candidates/${rejected.version}/${f}`, join(dir, f));
    process.env.MODEL_DIR = dir;
    const predict = (await import('#functions/predict/handler.ts')).handler as Handler;
    const id = readFileSync(join(work, 'loans.csv'), 'utf8').split('\n')[1].split(',')[1];
    const event = JSON.parse(readFileSync('events/predict-known.json', 'utf8')) as Record<string, unknown>;
    const ok = (await predict({ ...event, body: JSON.stringify({ id }) }, context)) as {
      statusCode: number;
      body: string;
    };
    expect(ok.statusCode).toBe(200);
    expect(JSON.parse(ok.body)).toMatchObject({
      id,
      modelVersion: rejected.version,
      featureSnapshot: rejected.snapshotId,
      prediction: expect.any(Number),
      probability: expect.any(Number),
    });
    const unknown = (await predict({ ...event, body: JSON.stringify({ id: '999999999' }) }, context)) as {
      statusCode: number;
    };
    expect(unknown.statusCode).toBe(404);
    root.rdsData.destroy();
  });

  it('a failed run (the train function is gone) ends at Failed, and status shows no state still running', async () => {
    const lambda = new LambdaClient({});
    await lambda.send(new DeleteFunctionCommand({ FunctionName: stack.functions.train }));
    lambda.destroy();
    const name = uniqueName('failed');
    const input = { input: RAW_KEY, train: training };
    const turn = await turnFn(
      {
        stage: 'turn',
        stateMachine: trainingArn,
        execution: { id: `${trainingArn}:${name}`, name, startTime: new Date().toISOString() },
        maxWaitSeconds: 7200,
      },
      context,
    );
    const features = await extract(configOf(input), context);
    expect(features).toMatchObject({ snapshotId: rejected.snapshotId, alreadyCurrent: true });
    await queueLambdaResults([turn, features]);
    const started = await stepFunctionsStarter(sfn, trainingArn).start({ name, input });
    expect(await finished(sfn, started.executionId)).toBe('FAILED');

    const status = cli(['aws', 'pipeline', 'status', name, '--json', '--state-machine-arn', trainingArn]);
    const view = JSON.parse(status.stdout) as {
      status: string;
      error: string;
      states: Array<{ name: string; ms: number | null; error: { error: string } | null }>;
    };
    expect(view.status).toBe('FAILED');
    expect(view.error).toBe('TrainingFailed');
    expect(view.states.map((s) => s.name).slice(-3)).toEqual(['Train', 'NotifyFailure', 'Failed']);
    // AWS names it Lambda.ResourceNotFoundException; moto's interpreter reports States.Runtime.
    expect(view.states.at(-3)?.error?.error).toMatch(/ResourceNotFound|States\.Runtime/);
    expect(view.states.at(-1)).toMatchObject({ name: 'Failed', error: { error: 'TrainingFailed' } });
    expect(view.states.every((s) => s.ms !== null)).toBe(true);
    const text = cli(['aws', 'pipeline', 'status', name, '--state-machine-arn', trainingArn]).stdout;
    expect(text).toMatch(/status\s+failed/);
    expect(text).not.toMatch(/\brunning\b/);
    const notes = await receivedNotifications(stack.queueUrl);
    expect(notes.map((n) => n.subject)).toEqual(['credit-risk: training run failed']);
  }, 120_000);

  it('an S3 event starts one execution through start-pipeline; a duplicate delivery while it runs starts none', async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket: process.env.RAW_BUCKET, Key: RAW_KEY }));
    const sample = JSON.parse(readFileSync('events/start-pipeline.json', 'utf8')) as {
      detail: { bucket: { name: string }; object: Record<string, unknown> };
    };
    const event = {
      ...sample,
      detail: {
        ...sample.detail,
        bucket: { name: process.env.RAW_BUCKET },
        object: {
          ...sample.detail.object,
          key: RAW_KEY,
          size: head.ContentLength,
          etag: head.ETag?.replace(/"/g, ''),
        },
      },
    };
    // AwaitTurn answers "an older run is ahead", so this execution waits (WaitForTurn, 300 s) and is
    // still RUNNING when the duplicate arrives: the shape the extract function's turn stage answers.
    const waiting: TurnDecision = {
      proceed: false,
      ahead: [{ name: 'an-older-run', startedAt: new Date(Date.now() - 60_000).toISOString() }],
      waitedSeconds: 0,
    };
    await queueLambdaResults([waiting]);
    const { createHandler } = await import('#functions/start-pipeline/handler.ts');
    const { stepFunctionsStarter } = await import('#lib/adapters/aws/step-functions-starter.ts');
    const startPipeline = createHandler({ starter: stepFunctionsStarter(sfn, trainingArn) });
    const first = await startPipeline(event, context);
    expect(first.executions).toHaveLength(1);
    expect(first.executions[0]).toMatchObject({ key: RAW_KEY, started: true });
    const arn = first.executions[0].executionArn!;
    // EventBridge delivers at least once: the same event again, a moment later.
    await new Promise((r) => setTimeout(r, 1_500));
    const again = await startPipeline(event, context);
    expect(again.executions[0]).toMatchObject({
      key: RAW_KEY,
      name: first.executions[0].name,
      started: false,
    });

    await reached(sfn, arn, 'WaitStateEntered');
    const running = await stepFunctionsStarter(sfn, trainingArn).running();
    expect(running.map((r) => r.name)).toContain(first.executions[0].name);
    const status = JSON.parse(
      cli(['aws', 'pipeline', 'status', arn, '--json', '--state-machine-arn', trainingArn]).stdout,
    ) as { status: string; states: Array<{ name: string; ms: number | null }> };
    expect(status.status).toBe('RUNNING');
    expect(status.states.at(-1)).toMatchObject({ name: 'WaitForTurn', ms: null });
    const input = JSON.parse(
      (await history(sfn, arn)).find((e) => e.type === 'ExecutionStarted')!.executionStartedEventDetails!
        .input!,
    ) as Record<string, unknown>;
    expect(input).toMatchObject({ input: RAW_KEY, trigger: 'new-data' });

    await sfn.send(
      new StopExecutionCommand({ executionArn: arn, error: 'TestDone', cause: 'stopped by the test' }),
    );
    expect(await finished(sfn, arn)).toBe('ABORTED');
    const aborted = JSON.parse(
      cli(['aws', 'pipeline', 'status', arn, '--json', '--state-machine-arn', trainingArn]).stdout,
    ) as { states: Array<{ name: string; ms: number | null; error: unknown }> };
    // Closed by the abort (moto leaves the abort's error text empty; AWS carries StopExecution's).
    expect(aborted.states.at(-1)).toMatchObject({ name: 'WaitForTurn', error: expect.any(Object) });
    expect(aborted.states.at(-1)?.ms).not.toBeNull();
  }, 120_000);

  it('aws pipeline history lists the executions newest first with their outcome', () => {
    const out = cli(['aws', 'pipeline', 'history', '--json', '--state-machine-arn', trainingArn]);
    expect(out.stderr).toBe('');
    const runs = JSON.parse(out.stdout) as Array<{ name: string; status: string; decision: string | null }>;
    expect(runs).toHaveLength(3);
    expect(runs.find((r) => r.name === rejected.name)).toMatchObject({
      status: 'SUCCEEDED',
      decision: 'rejected',
    });
    expect(runs.map((r) => r.status).sort()).toEqual(['ABORTED', 'FAILED', 'SUCCEEDED']);
    const text = cli(['aws', 'pipeline', 'history', '--state-machine-arn', trainingArn]).stdout;
    expect(text).toContain(rejected.name);
  });
});

// Keep the work directory inspectable after a failure; it lives under the OS temp dir.
writeFileSync(join(work, 'README'), 'scratch of test/aws/training-run.test.ts\n');
