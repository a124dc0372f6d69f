import { spawnSync } from 'node:child_process';
import { CreateFunctionCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { CreateTopicCommand, SNSClient, SubscribeCommand } from '@aws-sdk/client-sns';
import {
  CreateStateMachineCommand,
  DescribeExecutionCommand,
  GetExecutionHistoryCommand,
  SFNClient,
  type HistoryEvent,
} from '@aws-sdk/client-sfn';
import { readAsl, substitute, type StateMachineName } from '#local/sfn/definition.ts';
import { ACCOUNT, REGION, lambdaRole, motoUrl, uniqueName } from './emulators.ts';

/**
 * A small stand-in for the deployed stack on moto: the functions the state machines call, the
 * notification topic (with an SQS subscriber to read what it published) and the state machines
 * created from state-machines/*.asl.json with the substitutions infra/resources/orchestration.yml
 * gives them at deploy time (DefinitionSubstitutions).
 */
export interface EmulatedStack {
  functions: Record<
    'trainingTurn' | 'extract' | 'train' | 'evaluate' | 'register' | 'canary' | 'batchScore',
    string
  >;
  topicArn: string;
  queueUrl: string;
  substitutions: Record<string, string>;
  stateMachineArn(name: StateMachineName): string;
}

/** moto's SQS over its JSON protocol (the project has no SQS client: only a test subscriber needs one). */
export async function sqs(action: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(motoUrl(), {
    method: 'POST',
    headers: {
      'content-type': 'application/x-amz-json-1.0',
      'x-amz-target': `AmazonSQS.${action}`,
      authorization: `AWS4-HMAC-SHA256 Credential=test/20260101/${REGION}/sqs/aws4_request, SignedHeaders=host, Signature=0`,
    },
    body: JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`SQS ${action}: HTTP ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, unknown>;
}

/** What the topic's subscriber received so far: {subject, message} per notification. */
export async function receivedNotifications(
  queueUrl: string,
): Promise<Array<{ subject: string; message: string }>> {
  const out: Array<{ subject: string; message: string }> = [];
  for (;;) {
    const page = await sqs('ReceiveMessage', { QueueUrl: queueUrl, MaxNumberOfMessages: 10 });
    const messages = (page.Messages ?? []) as Array<{ Body: string }>;
    if (messages.length === 0) return out;
    for (const m of messages) {
      const body = JSON.parse(m.Body) as { Subject: string; Message: string };
      out.push({ subject: body.Subject, message: body.Message });
    }
  }
}

export async function deployStack(options: {
  buckets: { raw: string; features: string; models: string };
  modelName: string;
}): Promise<EmulatedStack> {
  const lambda = new LambdaClient({});
  const sns = new SNSClient({});
  const sfn = new SFNClient({});
  try {
    const role = await lambdaRole(uniqueName('fn-role'));
    const names = [
      'trainingTurn',
      'extract',
      'train',
      'evaluate',
      'register',
      'canary',
      'batchScore',
    ] as const;
    const functions = {} as EmulatedStack['functions'];
    for (const n of names) {
      const created = await lambda.send(
        new CreateFunctionCommand({
          FunctionName: uniqueName(n),
          Runtime: 'nodejs20.x',
          Handler: 'index.handler',
          Role: role,
          // moto runs no code without Docker: a zip is needed only for the API to accept the function.
          Code: { ZipFile: emptyZip() },
        }),
      );
      functions[n] = created.FunctionArn!;
    }
    await drainLambdaAnswers(lambda, functions.extract);
    const topic = await sns.send(new CreateTopicCommand({ Name: uniqueName('notifications') }));
    const queueName = uniqueName('subscriber');
    const { QueueUrl } = (await sqs('CreateQueue', { QueueName: queueName })) as { QueueUrl: string };
    await sns.send(
      new SubscribeCommand({
        TopicArn: topic.TopicArn,
        Protocol: 'sqs',
        Endpoint: `arn:aws:sqs:${REGION}:${ACCOUNT}:${queueName}`,
      }),
    );
    // The values infra/resources/orchestration.yml gives, resource by resource.
    const substitutions: Record<string, string> = {
      TrainingTurnFunctionArn: functions.trainingTurn,
      ExtractFeaturesFunctionArn: functions.extract,
      TrainFunctionArn: functions.train,
      EvaluateFunctionArn: functions.evaluate,
      RegisterFunctionArn: functions.register,
      CanaryFunctionArn: functions.canary,
      BatchScoreFunctionArn: functions.batchScore,
      FeatureGlueJobName: 'credit-risk-test-extract-features',
      ImageBuildProjectName: 'credit-risk-test-image',
      NotificationTopicArn: topic.TopicArn!,
      RawBucketName: options.buckets.raw,
      FeaturesBucketName: options.buckets.features,
      ModelsBucketName: options.buckets.models,
      PredictFunctionName: 'credit-risk-test-predict',
      PredictAliasName: 'live',
      ModelName: options.modelName,
    };
    const machines = new Map<StateMachineName, string>();
    for (const name of ['training', 'batch-scoring'] as const) {
      const created = await sfn.send(
        new CreateStateMachineCommand({
          name: uniqueName(`credit-risk-test-${name}`),
          roleArn: `arn:aws:iam::${ACCOUNT}:role/credit-risk-test-${name}`,
          definition: substitute(readAsl(name), substitutions),
        }),
      );
      machines.set(name, created.stateMachineArn!);
    }
    return {
      functions,
      topicArn: topic.TopicArn!,
      queueUrl: QueueUrl,
      substitutions,
      stateMachineArn: (name) => machines.get(name)!,
    };
  } finally {
    lambda.destroy();
    sns.destroy();
    sfn.destroy();
  }
}

/**
 * Empties moto's Lambda answer queue of this region, so a suite never gets answers another suite
 * left behind (a run stopped before its invoke): invoke until the answer is the echo of the
 * payload, which moto gives when its queue is empty.
 */
async function drainLambdaAnswers(lambda: LambdaClient, functionArn: string): Promise<void> {
  const probe = JSON.stringify({ probe: uniqueName('drain') });
  for (let i = 0; i < 1000; i++) {
    const out = await lambda.send(new InvokeCommand({ FunctionName: functionArn, Payload: probe }));
    if (new TextDecoder().decode(out.Payload) === probe) return;
  }
  throw new Error('moto still answers from its Lambda queue after 1,000 invokes');
}

/** An empty zip archive (the end-of-central-directory record alone). */
function emptyZip(): Uint8Array {
  const b = new Uint8Array(22);
  b.set([0x50, 0x4b, 0x05, 0x06]);
  return b;
}

/** Waits until the execution leaves RUNNING; its status. */
export async function finished(sfn: SFNClient, executionArn: string, timeoutMs = 60_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const d = await sfn.send(new DescribeExecutionCommand({ executionArn }));
    if (d.status !== 'RUNNING') return d.status ?? 'UNKNOWN';
    if (Date.now() - t0 > timeoutMs) throw new Error(`${executionArn} still RUNNING after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export async function history(sfn: SFNClient, executionArn: string): Promise<HistoryEvent[]> {
  const events: HistoryEvent[] = [];
  let nextToken: string | undefined;
  do {
    const page = await sfn.send(
      new GetExecutionHistoryCommand({ executionArn, nextToken, includeExecutionData: true }),
    );
    events.push(...(page.events ?? []));
    nextToken = page.nextToken;
  } while (nextToken);
  return events;
}

/** The Lambda payloads the execution sent, state by state, in order (TaskScheduled parameters). */
export function lambdaPayloads(events: readonly HistoryEvent[]): Array<{ state: string; payload: unknown }> {
  const out: Array<{ state: string; payload: unknown }> = [];
  let state = '';
  for (const e of events) {
    if (e.stateEnteredEventDetails?.name) state = e.stateEnteredEventDetails.name;
    const scheduled = e.taskScheduledEventDetails;
    if (scheduled?.resourceType === 'lambda') {
      const parameters = JSON.parse(scheduled.parameters ?? '{}') as { Payload?: unknown };
      out.push({ state, payload: parameters.Payload });
    }
  }
  return out;
}

/** `credit-risk ...` as a person runs it, against the emulators (the SDK endpoints are in the env). */
export function cli(args: string[]): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    // NODE_NO_WARNINGS: the SDK's Node-version notice would be the only thing on stderr.
    env: { ...process.env, NO_COLOR: '1', NODE_NO_WARNINGS: '1' },
    timeout: 60_000,
  });
  return { status: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Waits until the execution's history holds an event of `type` (e.g. WaitStateEntered: it has
 * taken its queued Lambda answer and waits). Stopping a run before it took its answer would leave
 * that answer in moto's queue for the next suite's first invoke.
 */
export async function reached(
  sfn: SFNClient,
  executionArn: string,
  type: string,
  timeoutMs = 30_000,
): Promise<void> {
  const t0 = Date.now();
  while (!(await history(sfn, executionArn)).some((e) => e.type === type)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`${executionArn} has no ${type} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
