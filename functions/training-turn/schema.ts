import { z } from 'zod';
import { InputError } from '#lib/errors.ts';
import type { ListRunningTrainings } from '#lib/pipeline/training-turn.ts';
import type { Clock } from '#lib/ports/clock.ts';

/** The training-turn function's ports. */
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
