import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { awsRoot } from '#functions/commons/aws-root.ts';
import { defineHandler } from '#functions/commons/define-handler.ts';
import { logger, metrics } from '#functions/commons/powertools.ts';
import { InputError } from '#lib/errors.ts';
import { awaitTurn, type ListRunningTrainings, type TurnDecision } from '#lib/pipeline/training-turn.ts';
import type { Clock } from '#lib/ports/clock.ts';

/**
 * The training machine's AwaitTurn state (lib/pipeline/training-turn.ts): go on only when no OLDER
 * training execution is running; reads nothing but the list of running executions (ListExecutions
 * in AWS), so it is a function of its own with a role that may do only that.
 */
export interface TrainingTurnDeps {
  runningTrainings: ListRunningTrainings;
  clock: Clock;
}

/** The state's own context-object fields and the wait limit from its config. */
const TurnRequest = z.object({
  stage: z.literal('turn').optional(),
  stateMachine: z.string().min(1),
  execution: z.object({
    id: z.string().min(1),
    name: z.string().min(1),
    startTime: z.iso.datetime({ offset: true }),
  }),
  maxWaitSeconds: z.number().nonnegative(),
});
const SHAPE =
  '{"stage": "turn", "stateMachine": "<state machine ARN>", "execution": {"id", "name", "startTime": "<ISO 8601>"}, "maxWaitSeconds": <number>}';

export function parseTurnRequest(event: unknown): z.output<typeof TurnRequest> {
  const parsed = TurnRequest.safeParse(event);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw new InputError('BAD_TURN_EVENT', `expected ${SHAPE} (${issue.path.join('.')}: ${issue.message})`);
}

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
