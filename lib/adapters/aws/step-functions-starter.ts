import { ExecutionAlreadyExists, type SFNClient, StartExecutionCommand } from '@aws-sdk/client-sfn';
import type { TrainingStarter } from '#lib/monitoring/drift-check.ts';

/**
 * Starts the training state machine with a chosen execution name (StartExecution). The name makes
 * a start idempotent: ExecutionAlreadyExists means this run was already started, which is a
 * success (`started: false`). Used by start-pipeline (one name per raw object version) and
 * drift-check (one name per day and champion).
 */
export function stepFunctionsStarter(sfn: SFNClient, stateMachineArn: string): TrainingStarter {
  return {
    async start({ name, input }) {
      try {
        const out = await sfn.send(new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }));
        return { started: true, executionId: out.executionArn ?? name };
      } catch (e) {
        if (!(e instanceof ExecutionAlreadyExists)) throw e;
        return { started: false, executionId: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}` };
      }
    },
  };
}
