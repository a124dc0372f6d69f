import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { awaitTurn, type TurnDecision } from '#lib/pipeline/training-turn.ts';
import { parseTurnRequest, type TrainingTurnDeps } from './schema.ts';

export { parseTurnRequest, type TrainingTurnDeps } from './schema.ts';

/**
 * The training machine's AwaitTurn state (lib/pipeline/training-turn.ts): go on only when no OLDER
 * training execution is running; reads nothing but the list of running executions (ListExecutions
 * in AWS), so it is a function of its own with a role that may do only that.
 */

const trainingTurn = defineHandler({
  parse: parseTurnRequest,
  async run({ stateMachine, execution, maxWaitSeconds }, deps: TrainingTurnDeps): Promise<TurnDecision> {
    const self = { name: execution.name, startedAt: execution.startTime };
    const decision = await awaitTurn(
      deps.runningTrainings,
      { stateMachineId: stateMachine, self, maxWaitSeconds },
      () => deps.clock.now(),
    );
    const message = decision.proceed
      ? 'no older training running: this one goes on'
      : 'older training executions running: waiting';
    logger.info(message, { execution: execution.name, ...decision });
    // How many older trainings this one waits behind (0 when it goes on): queueing, in CloudWatch.
    metrics.addMetric('trainingTurnAhead', MetricUnit.Count, decision.ahead.length);
    return decision;
  },
});

export const createHandler = trainingTurn.create;
export const handler = trainingTurn.lazy(() => ({
  runningTrainings: awsRoot().runningTrainings,
  clock: awsRoot().clock,
}));
