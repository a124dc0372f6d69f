/** A training execution in flight. */
export interface RunningExecution {
  name: string;
  /** ISO 8601. */
  startedAt: string;
}

/**
 * Starts the training state machine: Step Functions in AWS (lib/adapters/aws/step-functions-starter.ts),
 * the local runner locally. Used by start-pipeline (new raw data) and the drift check.
 */
export interface TrainingStarter {
  /**
   * `name` identifies the run: a second start with the same name starts nothing and answers
   * `started: false` (Step Functions' ExecutionAlreadyExists).
   */
  start(request: {
    name: string;
    input: Record<string, unknown>;
  }): Promise<{ started: boolean; executionId: string }>;
  /**
   * The training executions running now, whoever started them (Step Functions: ListExecutions
   * with status RUNNING; locally: the run records still running). Throws if it cannot tell.
   */
  running(): Promise<RunningExecution[]>;
}

/**
 * The running training executions of the state machine a call names (the training-turn function
 * asks about its own machine, $$.StateMachine.Id): ListExecutions in AWS
 * (runningExecutionsLister), the run records still running locally.
 */
export type ListRunningTrainings = (stateMachineId: string) => Promise<RunningExecution[]>;
