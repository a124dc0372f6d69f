import { beforeEach, describe, expect, it, jest } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListExecutionsCommand, SFNClient, SFNServiceException } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { createHandler, parseTurnRequest } from '#functions/training-turn/handler.ts';
import { runningExecutionsLister } from '#lib/adapters/aws/step-functions-starter.ts';
import type { RunningExecution } from '#lib/monitoring/drift-check.ts';
import {
  decideTurn,
  isAhead,
  TrainingListUnavailableError,
  TrainingTurnTimeoutError,
  type ListRunningTrainings,
} from '#lib/pipeline/training-turn.ts';
import type { Clock } from '#lib/ports/clock.ts';
import { logger } from '#functions/commons/powertools.ts';
import { captureJsonLines } from '../../../support/stdout.ts';

/**
 * The training machine's AwaitTurn state (state-machines/training.asl.json): the extract function's
 * turn stage and the decision under it (lib/pipeline/training-turn.ts). An execution goes on only
 * when no OLDER training execution runs: start time first, execution name on a tie, itself never.
 */
const context = { functionName: 'extract-features', awsRequestId: 'req-1' } as unknown as Context;
const turnEvent = JSON.parse(readFileSync(join('events', 'extract-features-turn.json'), 'utf8')) as {
  stateMachine: string;
  execution: { id: string; name: string; startTime: string };
  maxWaitSeconds: number;
};
const SELF = { name: turnEvent.execution.name, startedAt: turnEvent.execution.startTime };
const at = (iso: string) => new Date(iso);

describe('decideTurn', () => {
  const now = at('2026-12-07T06:00:05.000Z');

  it('goes on when nothing else runs, or only itself', () => {
    expect(decideTurn(SELF, [], now, 7200)).toEqual({ proceed: true, ahead: [], waitedSeconds: 5 });
    expect(decideTurn(SELF, [{ ...SELF }], now, 7200)).toMatchObject({ proceed: true, ahead: [] });
  });

  it('waits for an older execution and lists every older one, oldest first; newer ones do not count', () => {
    const older = { name: 'new-data-b', startedAt: '2026-12-07T05:10:00.000Z' };
    const oldest = { name: 'manual-a', startedAt: '2026-12-07T04:00:00.000Z' };
    const newer = { name: 'drift-2026-12-07', startedAt: '2026-12-07T06:00:00.124Z' };
    const decision = decideTurn(SELF, [newer, older, SELF, oldest], now, 7200);
    expect(decision).toEqual({ proceed: false, ahead: [oldest, older], waitedSeconds: 5 });
    // The newer one, asking at the same moment, waits for this one: exactly one of two goes first.
    expect(decideTurn(newer, [newer, SELF], now, 7200)).toMatchObject({ proceed: false, ahead: [SELF] });
  });

  it('breaks a tie of start times by execution name, the same way from both sides', () => {
    const twin = { name: 'a-twin', startedAt: SELF.startedAt };
    expect(isAhead(twin, SELF)).toBe(true);
    expect(isAhead(SELF, twin)).toBe(false);
    expect(decideTurn(SELF, [twin, SELF], now, 7200).proceed).toBe(false);
    expect(decideTurn(twin, [twin, SELF], now, 7200).proceed).toBe(true);
  });

  it('compares instants, not strings (an offset start time, an older one in another format)', () => {
    const sameInstant = { name: 'zzz', startedAt: '2026-12-07T07:00:00.123+01:00' };
    expect(isAhead(sameInstant, SELF)).toBe(false); // same instant, larger name
    expect(isAhead({ name: 'x', startedAt: '2026-12-07T06:00:00.122Z' }, SELF)).toBe(true);
  });

  it('counts a running execution without a readable start time as older (waiting is the safe side)', () => {
    expect(decideTurn(SELF, [{ name: 'odd', startedAt: 'unknown' }], now, 7200)).toMatchObject({
      proceed: false,
    });
  });

  it('gives up past maxWaitSeconds since its own start while an older one still runs; going on is never refused', () => {
    const older = { name: 'manual-a', startedAt: '2026-12-07T04:00:00.000Z' };
    const late = at('2026-12-07T08:00:00.123Z'); // 7200 s after SELF started
    expect(() => decideTurn(SELF, [older], late, 7200)).toThrow(TrainingTurnTimeoutError);
    expect(() => decideTurn(SELF, [older], late, 7200)).toThrow(/waited 7200 s \(limit 7200 s\).*manual-a/);
    expect(decideTurn(SELF, [older], at('2026-12-07T07:59:58.000Z'), 7200).proceed).toBe(false);
    expect(decideTurn(SELF, [], late, 7200)).toMatchObject({ proceed: true, waitedSeconds: 7200 });
  });
});

function turnHandler(runningTrainings: ListRunningTrainings, nowIso = '2026-12-07T06:05:00.123Z') {
  const clock: Clock = { now: () => new Date(nowIso), today: () => nowIso.slice(0, 10) };
  return createHandler({ runningTrainings, clock });
}

describe('training-turn function (the AwaitTurn state)', () => {
  it('parses the AwaitTurn payload (events/extract-features-turn.json) and names its shape when a field is wrong', () => {
    expect(parseTurnRequest(turnEvent)).toEqual(turnEvent);
    expect(() =>
      parseTurnRequest({ ...turnEvent, execution: { ...turnEvent.execution, startTime: 'yesterday' } }),
    ).toThrow(/expected \{"stage": "turn".*\(execution\.startTime: /);
    expect(() => parseTurnRequest({ ...turnEvent, maxWaitSeconds: -1 })).toThrow(/\(maxWaitSeconds: /);
  });

  it('asks the listing about the state machine the request names and answers what the AwaitTurn state selects', async () => {
    const asked: string[] = [];
    const older: RunningExecution = { name: 'manual-a', startedAt: '2026-12-07T05:59:59.000Z' };
    const handler = turnHandler(async (arn) => {
      asked.push(arn);
      return [older, SELF];
    });
    const { result, lines } = await captureJsonLines(() => handler(turnEvent, context));
    expect(result).toEqual({ proceed: false, ahead: [older], waitedSeconds: 300 });
    expect(asked).toEqual([turnEvent.stateMachine]);
    // One EMF document: how many older trainings it waits behind (the stage used to publish none,
    // and Powertools printed "No application metrics to publish" on every AwaitTurn).
    const docs = lines.filter((d) => d._aws);
    expect(docs).toHaveLength(1);
    expect(docs[0]).toMatchObject({ trainingTurnAhead: 1 });
    expect(docs[0]._aws.CloudWatchMetrics[0].Metrics).toEqual([{ Name: 'trainingTurnAhead', Unit: 'Count' }]);
  });

  it('a failed listing is TrainingListUnavailable (the error the state retries), with the cause in its message', async () => {
    const handler = turnHandler(async () => {
      throw new Error('Rate exceeded');
    });
    const warn = jest.spyOn(logger, 'warn');
    try {
      const failure = handler(turnEvent, context);
      await expect(failure).rejects.toBeInstanceOf(TrainingListUnavailableError);
      await expect(failure).rejects.toMatchObject({
        name: 'TrainingListUnavailable',
        message: expect.stringContaining('Rate exceeded'),
      });
      // A failed invocation publishes no metric; Powertools Metrics says so through the structured
      // logger (functions/commons/powertools.ts), not as raw text on the console.
      expect(warn).toHaveBeenCalledWith(expect.stringContaining('No application metrics to publish'));
    } finally {
      warn.mockRestore();
    }
  });
});

describe('turn stage over Step Functions (ListExecutions through the starter adapter)', () => {
  const sfn = mockClient(SFNClient);
  beforeEach(() => {
    sfn.reset();
  });

  it('lists RUNNING executions of the named machine, every page, and waits for the older one on page 2', async () => {
    sfn
      .on(ListExecutionsCommand, { stateMachineArn: turnEvent.stateMachine, statusFilter: 'RUNNING' })
      .resolvesOnce({
        executions: [
          {
            executionArn: turnEvent.execution.id,
            stateMachineArn: turnEvent.stateMachine,
            name: SELF.name,
            status: 'RUNNING',
            startDate: new Date(SELF.startedAt),
          },
        ],
        nextToken: 'page-2',
      })
      .resolvesOnce({
        executions: [
          {
            executionArn: `${turnEvent.stateMachine.replace(':stateMachine:', ':execution:')}:new-data-x`,
            stateMachineArn: turnEvent.stateMachine,
            name: 'new-data-x',
            status: 'RUNNING',
            startDate: new Date('2026-12-07T05:30:00.000Z'),
          },
        ],
      });
    const handler = turnHandler(runningExecutionsLister(() => new SFNClient({})));
    expect(await handler(turnEvent, context)).toEqual({
      proceed: false,
      ahead: [{ name: 'new-data-x', startedAt: '2026-12-07T05:30:00.000Z' }],
      waitedSeconds: 300,
    });
    expect(sfn.commandCalls(ListExecutionsCommand).map((c) => c.args[0].input)).toEqual([
      { stateMachineArn: turnEvent.stateMachine, statusFilter: 'RUNNING' },
      { stateMachineArn: turnEvent.stateMachine, statusFilter: 'RUNNING', nextToken: 'page-2' },
    ]);
  });

  it('only itself running: goes on', async () => {
    sfn.on(ListExecutionsCommand).resolves({
      executions: [
        {
          executionArn: turnEvent.execution.id,
          stateMachineArn: turnEvent.stateMachine,
          name: SELF.name,
          status: 'RUNNING',
          startDate: new Date(SELF.startedAt),
        },
      ],
    });
    const handler = turnHandler(runningExecutionsLister(() => new SFNClient({})));
    expect(await handler(turnEvent, context)).toMatchObject({ proceed: true, ahead: [] });
  });

  it('throttling or AccessDenied from ListExecutions is TrainingListUnavailable', async () => {
    sfn.on(ListExecutionsCommand).rejects(
      new SFNServiceException({
        name: 'AccessDeniedException',
        $fault: 'client',
        $metadata: {},
        message: 'not authorized to perform: states:ListExecutions',
      }),
    );
    const handler = turnHandler(runningExecutionsLister(() => new SFNClient({})));
    await expect(handler(turnEvent, context)).rejects.toMatchObject({
      name: 'TrainingListUnavailable',
      message: expect.stringContaining('states:ListExecutions'),
    });
  });
});
