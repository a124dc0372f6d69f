import { beforeEach, describe, expect, it } from '@jest/globals';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { readFileSync } from 'node:fs';
import { createHandler } from '#functions/start-pipeline/handler.ts';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import { executionNameFor, MAX_EXECUTION_NAME } from '#lib/pipeline/new-data.ts';

const context = {
  awsRequestId: 'r',
  functionName: 'start-pipeline',
  getRemainingTimeInMillis: () => 30000,
} as unknown as Context;
const ARN = 'arn:aws:states:eu-west-1:123456789012:stateMachine:credit-risk-prod-training';
const event = (file: string) => JSON.parse(readFileSync(`events/${file}`, 'utf8')) as unknown;
const sfn = mockClient(SFNClient);

beforeEach(() => {
  sfn.reset();
});

describe('start-pipeline function', () => {
  it('starts one training execution named after the key and ETag, with the object as input', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: `${ARN}:x`, startDate: new Date() });
    const handler = createHandler({ starter: stepFunctionsStarter(new SFNClient({}), ARN) });
    const out = await handler(event('start-pipeline.json'), context);
    const name = executionNameFor({
      key: 'raw/2025/03/dataset_credit_risk.csv',
      etag: 'b1946ac92492d2347c6235b4d2611184',
    });
    expect(sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input)).toEqual([
      {
        stateMachineArn: ARN,
        name,
        input: JSON.stringify({
          input: 'raw/2025/03/dataset_credit_risk.csv',
          sizeBytes: 88412113,
          trigger: 'new-data',
          source: {
            bucket: 'credit-risk-prod-raw-123456789012',
            key: 'raw/2025/03/dataset_credit_risk.csv',
            etag: 'b1946ac92492d2347c6235b4d2611184',
          },
        }),
      },
    ]);
    expect(out.executions).toEqual([
      { key: 'raw/2025/03/dataset_credit_risk.csv', name, started: true, executionArn: `${ARN}:x` },
    ]);
  });

  it('treats a repeated event (ExecutionAlreadyExists) as already started, not as an error', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const handler = createHandler({ starter: stepFunctionsStarter(new SFNClient({}), ARN) });
    const out = await handler(event('start-pipeline.json'), context);
    expect(out.executions).toMatchObject([{ started: false }]);
    expect(out.executions[0].skipped).toBeUndefined();
  });

  it('gives the same name to the same object version and a new one to a new upload', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'a', startDate: new Date() });
    const handler = createHandler({ starter: stepFunctionsStarter(new SFNClient({}), ARN) });
    await handler(event('start-pipeline.json'), context);
    await handler(event('start-pipeline.json'), context);
    const reupload = event('start-pipeline.json') as { detail: { object: { etag: string } } };
    reupload.detail.object.etag = 'ffffffffffffffffffffffffffffffff';
    await handler(reupload, context);
    const names = sfn.commandCalls(StartExecutionCommand).map((c) => c.args[0].input.name);
    expect(names[0]).toBe(names[1]);
    expect(names[2]).not.toBe(names[0]);
  });

  it('decodes the URL-encoded key of a classic S3 notification', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: 'a', startDate: new Date() });
    const handler = createHandler({ starter: stepFunctionsStarter(new SFNClient({}), ARN) });
    await handler(event('start-pipeline-s3-notification.json'), context);
    const input = JSON.parse(sfn.commandCalls(StartExecutionCommand)[0].args[0].input.input as string) as {
      input: string;
    };
    expect(input.input).toBe('raw/2025/03/loans march (1).csv');
  });

  it('starts nothing for folder markers, empty objects and events that are not S3', async () => {
    const handler = createHandler({ starter: stepFunctionsStarter(new SFNClient({}), ARN) });
    const folder = event('start-pipeline.json') as { detail: { object: { key: string; size: number } } };
    folder.detail.object.key = 'raw/2025/';
    folder.detail.object.size = 0;
    expect((await handler(folder, context)).executions).toMatchObject([
      { started: false, skipped: 'a folder marker, not data' },
    ]);
    expect((await handler(event('schedule-training.json'), context)).executions).toEqual([]);
    expect(sfn.commandCalls(StartExecutionCommand)).toHaveLength(0);
  });

  it('lets other Step Functions errors fail the invocation, so EventBridge retries it', async () => {
    sfn.on(StartExecutionCommand).rejects(new Error('ThrottlingException'));
    const handler = createHandler({ starter: stepFunctionsStarter(new SFNClient({}), ARN) });
    await expect(handler(event('start-pipeline.json'), context)).rejects.toThrow('ThrottlingException');
  });
});

describe('execution names', () => {
  it('are at most 80 legal characters, even for long keys full of symbols', () => {
    const name = executionNameFor({
      key: `raw/${'très long dossier (2025) & co/'.repeat(10)}prêts march.csv`,
      etag: '"abc-12"',
    });
    expect(name.length).toBeLessThanOrEqual(MAX_EXECUTION_NAME);
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(name).toMatch(/^new-.*pr-ts-march-csv-[0-9a-f]{24}$/);
  });

  it('differ for keys that only differ beyond the readable part', () => {
    const a = executionNameFor({ key: `${'x'.repeat(200)}a`, etag: 'e' });
    const b = executionNameFor({ key: `${'x'.repeat(200)}b`, etag: 'e' });
    expect(a).not.toBe(b);
  });
});
