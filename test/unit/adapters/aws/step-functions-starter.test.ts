import { beforeEach, describe, expect, it } from '@jest/globals';
import { ExecutionAlreadyExists, SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import { mockClient } from 'aws-sdk-client-mock';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';

const MACHINE = 'arn:aws:states:eu-west-1:123456789012:stateMachine:credit-risk-dev-training';
const EXECUTION = 'arn:aws:states:eu-west-1:123456789012:execution:credit-risk-dev-training:raw-abc';
const NOW = Date.parse('2026-03-02T10:00:00Z');
const sfn = mockClient(SFNClient);

beforeEach(() => {
  sfn.reset();
});

describe('stepFunctionsStarter.start', () => {
  it('a fresh start (the execution began as the request was sent) is started', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(NOW + 40) });
    const starter = stepFunctionsStarter(new SFNClient({}), MACHINE, { now: () => NOW });
    await expect(starter.start({ name: 'raw-abc', input: { input: 'raw/a.csv' } })).resolves.toEqual({
      started: true,
      executionId: EXECUTION,
    });
    expect(sfn.commandCalls(StartExecutionCommand)[0].args[0].input).toEqual({
      stateMachineArn: MACHINE,
      name: 'raw-abc',
      input: '{"input":"raw/a.csv"}',
    });
  });

  it('the same name and input while the first run goes on answers its ARN and start date: already started, not started twice', async () => {
    // Step Functions' idempotent StartExecution: no ExecutionAlreadyExists, the first run's startDate.
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(NOW - 90_000) });
    const starter = stepFunctionsStarter(new SFNClient({}), MACHINE, { now: () => NOW });
    await expect(starter.start({ name: 'raw-abc', input: {} })).resolves.toEqual({
      started: false,
      executionId: EXECUTION,
    });
  });

  it('a service clock up to the tolerance behind ours still counts as a fresh start', async () => {
    sfn.on(StartExecutionCommand).resolves({ executionArn: EXECUTION, startDate: new Date(NOW - 800) });
    const starter = stepFunctionsStarter(new SFNClient({}), MACHINE, { now: () => NOW });
    expect((await starter.start({ name: 'raw-abc', input: {} })).started).toBe(true);
  });

  it('ExecutionAlreadyExists (another input, or the run has ended) is already started, with the ARN of that name', async () => {
    sfn
      .on(StartExecutionCommand)
      .rejects(new ExecutionAlreadyExists({ message: 'Execution Already Exists', $metadata: {} }));
    const starter = stepFunctionsStarter(new SFNClient({}), MACHINE, { now: () => NOW });
    await expect(starter.start({ name: 'raw-abc', input: {} })).resolves.toEqual({
      started: false,
      executionId: EXECUTION,
    });
  });
});
