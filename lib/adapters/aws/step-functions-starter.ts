import {
  ExecutionAlreadyExists,
  ListExecutionsCommand,
  type SFNClient,
  StartExecutionCommand,
} from '@aws-sdk/client-sfn';
import type { RunningExecution, TrainingStarter } from '#lib/ports/training-starter.ts';

/**
 * How far the service's clock may run behind ours before a fresh start would look like an earlier
 * one. Lambda clocks are NTP-synchronised (milliseconds apart); a repeated start comes from a
 * retry or a duplicate delivery, seconds to minutes after the first.
 */
export const DEFAULT_CLOCK_TOLERANCE_MS = 1_000;

export interface StarterOptions {
  /** Our clock, in ms since the epoch (tests pin it). */
  now?: () => number;
  clockToleranceMs?: number;
}

/**
 * Starts the training state machine with a chosen execution name (StartExecution). The name makes
 * a start idempotent, and Step Functions answers a repeat in two ways, both `started: false`:
 * - ExecutionAlreadyExists: the name was used with another input, or that run has ended;
 * - success with the SAME executionArn and the first run's startDate: the same name and input
 *   while that run is still going (documented StartExecution behaviour; found on moto's emulator,
 *   docs/adr/0131). A start date older than the moment the request left here tells it apart.
 * Used by start-pipeline (one name per raw object version) and drift-check (one name per day and
 * champion).
 *
 * `running` lists the state machine's RUNNING executions (ListExecutions, every page; the role
 * needs states:ListExecutions on the state machine ARN). Step Functions documents the listing as
 * eventually consistent: an execution started a moment ago may be missing from it.
 */
export function stepFunctionsStarter(
  sfn: SFNClient,
  stateMachineArn: string,
  options: StarterOptions = {},
): TrainingStarter {
  const now = options.now ?? (() => Date.now());
  const toleranceMs = options.clockToleranceMs ?? DEFAULT_CLOCK_TOLERANCE_MS;
  return {
    async start({ name, input }) {
      try {
        const sentAt = now();
        const out = await sfn.send(
          new StartExecutionCommand({ stateMachineArn, name, input: JSON.stringify(input) }),
        );
        const executionId = out.executionArn ?? name;
        // An execution that began before this request was sent is the earlier start, answered again.
        const earlier = out.startDate !== undefined && out.startDate.getTime() < sentAt - toleranceMs;
        return { started: !earlier, executionId };
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
