import { ListExecutionsCommand, SFNClient, StopExecutionCommand } from '@aws-sdk/client-sfn';
import { S3Client } from '@aws-sdk/client-s3';
import { stepFunctionsStarter } from '#lib/adapters/aws/step-functions-starter.ts';
import type { TurnDecision } from '#lib/pipeline/training-turn.ts';
import { trainingStarterContract } from '../contracts/training-starter.contract.ts';
import { deployStack, reached } from './support/deployment.ts';
import { describeWithEmulators, newBucket, queueLambdaResults, uniqueName } from './support/emulators.ts';

/**
 * The Step Functions starter on moto against the training machine itself. Each run's AwaitTurn is
 * answered "an older run is ahead" (the turn stage's shape), so it waits in WaitForTurn (300 s)
 * and is still RUNNING while the contract asks again: StartExecution's idempotent answer (same
 * name and input, first run's ARN and start date) is exercised for real.
 */
describeWithEmulators('TrainingStarter contract: stepFunctionsStarter on moto Step Functions', () => {
  trainingStarterContract(async () => {
    const s3 = new S3Client({});
    const bucket = await newBucket(s3, 'cr-starter');
    s3.destroy();
    const stack = await deployStack({
      buckets: { raw: bucket, features: bucket, models: bucket },
      modelName: 'credit-risk',
    });
    const machine = stack.stateMachineArn('training');
    const sfn = new SFNClient({});
    const waiting: TurnDecision = {
      proceed: false,
      ahead: [{ name: 'an-older-run', startedAt: '2026-01-01T00:00:00.000Z' }],
      waitedSeconds: 0,
    };
    return {
      starter: stepFunctionsStarter(sfn, machine),
      inFlight: true,
      beforeRun: () => queueLambdaResults([waiting]),
      async close() {
        const running = await sfn.send(
          new ListExecutionsCommand({ stateMachineArn: machine, statusFilter: 'RUNNING' }),
        );
        for (const e of running.executions ?? []) {
          await reached(sfn, e.executionArn!, 'WaitStateEntered');
          await sfn.send(new StopExecutionCommand({ executionArn: e.executionArn, cause: 'test done' }));
        }
        sfn.destroy();
      },
    };
  }, uniqueName('drift'));
});
