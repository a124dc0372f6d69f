import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { RunningExecution, TrainingStarter } from '#lib/monitoring/drift-check.ts';

/**
 * Starts the training state machine with a chosen execution name (StartExecution). The name makes
 * a start idempotent: ExecutionAlreadyExists means this run was already started, which is a
 * success (`started: false`). Used by start-pipeline (one name per raw object version) and
 * drift-check (one name per day and champion).
 *
 * `running` lists the state machine's RUNNING executions (ListExecutions, every page; the role
 * needs states:ListExecutions on the state machine ARN). Step Functions documents the listing as
 * eventually consistent: an execution started a moment ago may be missing from it.
 */
export function stepFunctionsStarter(sfn: SFNClient, stateMachineArn: string): TrainingStarter {
  return {
    async start({ name, input }) {
      try {
        const out = await sfn.send(
          new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
        );
        return { started: true, executionId: out.executionArn ?? name };
      } catch (e) {
        if (!(e instanceof ExecutionAlreadyExists)) throw e;
        return {
          started: false,
          executionId: `${stateMachineArn.replace(':stateMachine:', ':execution:')}:${name}`,
        };
      }
    },

    async running() {
      const out: RunningExecution[] = [];
      let nextToken: string | undefined;
      do {
        const page = await sfn.send(
          new ListExecutionsCommand({
            stateMachineArn,
            statusFilter: 'RUNNING',
            ...(nextToken ? { nextToken } : {}),
          }),
        );
        for (const e of page.executions ?? []) {
          out.push({
            name: e.name ?? e.executionArn ?? 'unnamed',
            startedAt: e.startDate ? e.startDate.toISOString() : 'unknown',
          });
        }
        nextToken = page.nextToken;
      } while (nextToken);
      return out;
    },
  };
}

/**
 * The RUNNING executions of whichever state machine a call names (the training-turn function asks
 * about $$.StateMachine.Id), one client made on the first call.
 */
export function runningExecutionsLister(
  makeClient: () => SFNClient,
): (stateMachineArn: string) => Promise<RunningExecution[]> {
  let client: SFNClient | undefined;
  return (stateMachineArn) => stepFunctionsStarter((client ??= makeClient()), stateMachineArn).running();
}
