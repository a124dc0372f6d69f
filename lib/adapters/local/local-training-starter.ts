import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import type { RunningExecution, TrainingStarter } from '#lib/ports/training-starter.ts';

/** What the local starter runs: the training state machine in this process (local/sfn). */
export interface LocalTrainingRuns {
  /** Runs one training execution to its end; its execution id. */
  run(input: Record<string, unknown>): Promise<{ executionId: string }>;
  /** The local ListExecutions(RUNNING): run records still running (local/runs/running-trainings.ts). */
  running(): Promise<RunningExecution[]>;
}

interface StartRecord {
  name: string;
  input: Record<string, unknown>;
  startedAt: string;
  executionId?: string;
}

/** Step Functions' execution-name rule, so a name that works locally works in AWS. */
const NAME = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * The TrainingStarter of the local runtime, with Step Functions' naming rule: a name starts at
 * most one run, ever. The first start of a name claims `<dir>/<name>.json` with an exclusive
 * create (two processes racing for one name: one wins), then runs the training in this process
 * (the local runner runs an execution inside the command that started it); every later start of
 * that name, with any input, starts nothing and answers the first run's execution id, as
 * StartExecution's ExecutionAlreadyExists (or its idempotent answer) does in AWS.
 */
export class LocalTrainingStarter implements TrainingStarter {
  constructor(
    readonly dir: string,
    private readonly runs: LocalTrainingRuns,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async start({ name, input }: { name: string; input: Record<string, unknown> }) {
    if (!NAME.test(name))
      throw new InputError(
        'BAD_EXECUTION_NAME',
        `execution name ${JSON.stringify(name)}: 1-80 letters, digits, dash or underscore (the Step Functions rule)`,
      );
    await mkdir(this.dir, { recursive: true });
    const file = join(this.dir, `${name}.json`);
    const record: StartRecord = { name, input, startedAt: this.now().toISOString() };
    try {
      await writeFile(file, JSON.stringify(record), { flag: 'wx' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const earlier = JSON.parse(await readFile(file, 'utf8')) as StartRecord;
      // Still running in another process: its id is not known yet, the name stands for it.
      return { started: false, executionId: earlier.executionId ?? name };
    }
    const { executionId } = await this.runs.run(input);
    const tmp = `${file}.tmp-${process.pid}-${randomUUID()}`;
    await writeFile(tmp, JSON.stringify({ ...record, executionId }));
    await rename(tmp, file);
    return { started: true, executionId };
  }

  running(): Promise<RunningExecution[]> {
    return this.runs.running();
  }
}
