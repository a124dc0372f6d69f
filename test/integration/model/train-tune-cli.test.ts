import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Context } from 'aws-lambda';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHandler } from '#functions/train/handler.ts';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import type { ModelCard } from '#lib/model/card.ts';
import { trainToDirectory } from '#lib/model/train.ts';
import type { TrialResult, TuningPlan } from '#lib/model/tuning-plan.ts';
import { forgetTrialSplit } from '#lib/pipeline/tune-step.ts';
import type { RunRecord } from '#lib/pipeline/run-record.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

/**
 * `credit-risk train --tune` end to end (the CLI as a user runs it): through the tuning states of
 * training.asl.json on the local runner, the Map's trials answered by the real train handler in
 * trial mode, and in process; plus the handler's trial mode on a snapshot in an object store.
 */
const dir = mkdtempSync(join(tmpdir(), 'train-tune-'));
const csv = join(dir, 'loans.csv');
const home = join(dir, 'home');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  const t = syntheticTable(9000, 4);
  const rows: string[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const day = new Date(Date.UTC(2020, 0, 1) + t.day[i] * 86_400_000).toISOString().slice(0, 10);
    rows.push(
      [
        `L${i}`,
        day,
        ...t.columns.map((c) => (Number.isNaN(c[i]) ? '' : String(c[i]))),
        String(t.label[i]),
      ].join(','),
    );
  }
  writeFileSync(csv, [`loan_id,loan_date,${t.featureNames.join(',')},status`, ...rows].join('\n') + '\n');
});

const common = ['--input', csv, '--target', 'status', '--time-column', 'loan_date', '--ignore', 'loan_id'];
const tuneArgs = ['--trials', '6', '--tune-seed', '3', '--threads', '1', '--json'];

describe('credit-risk train --tune', () => {
  it('runs the Map of the local state machine, records the run and its trials, and the card keeps them', () => {
    const r = cli('train', ...common, ...tuneArgs, '--max-concurrency', '2', '--out', join(dir, 'sfn'));
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    // stdout is the one --json line: the handler's logs and metrics went to the home's files.
    const out = JSON.parse(r.stdout) as { tuning: { runner: string; executionId: string; trials: number } };
    expect(out.tuning).toMatchObject({ runner: 'state-machine', trials: 8 });
    expect(r.stderr).toMatch(
      /tuning rung 0: 6 trials on 11\.1% of the training rows \(Map, max concurrency 2\)/,
    );

    const record = JSON.parse(
      readFileSync(join(home, 'runs', out.tuning.executionId, 'run.json'), 'utf8'),
    ) as RunRecord;
    expect(record).toMatchObject({ stateMachine: 'training-tuning', status: 'succeeded' });
    const trialStates = record.states.filter((s) => s.name === 'TuneTrial');
    expect(trialStates).toHaveLength(8);
    expect(record.states.map((s) => s.name)).toEqual(
      expect.arrayContaining(['PlanTuning', 'RunTrials', 'Tuned']),
    );

    const card = JSON.parse(readFileSync(join(dir, 'sfn', 'card.json'), 'utf8')) as ModelCard;
    expect(card.tuning?.trials).toHaveLength(8);
    expect(card.tuning?.scoredOn).toBe('validation');
    const chosen = card.tuning?.configs[card.tuning.chosen.id];
    expect(card.params).toMatchObject({ numLeaves: chosen?.numLeaves, learningRate: chosen?.learningRate });
    expect(readFileSync(join(dir, 'sfn', 'report.html'), 'utf8')).toContain('<section id="tuning">');
  });

  it('in process chooses the same settings and trains the same model', () => {
    const a = cli('train', ...common, ...tuneArgs, '--out', join(dir, 'a'));
    const b = cli('train', ...common, ...tuneArgs, '--in-process', '--out', join(dir, 'b'));
    expect([a.code, b.code]).toEqual([0, 0]);
    const ja = JSON.parse(a.stdout) as { version: string; tuning: { runner: string; chosen: unknown } };
    const jb = JSON.parse(b.stdout) as typeof ja;
    expect([ja.tuning.runner, jb.tuning.runner]).toEqual(['state-machine', 'in-process']);
    expect(jb.tuning.chosen).toEqual(ja.tuning.chosen);
    expect(jb.version).toBe(ja.version);
    const strip = (file: string) =>
      (JSON.parse(readFileSync(file, 'utf8')) as ModelCard).tuning?.trials.map((t) => ({ ...t, seconds: 0 }));
    expect(strip(join(dir, 'b', 'card.json'))).toEqual(strip(join(dir, 'a', 'card.json')));
  });

  it('refuses bad tuning settings before running anything (exit 2)', () => {
    const r = cli('train', ...common, '--tune', '--eta', '1', '--out', join(dir, 'x'));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--eta must be an integer >= 2/);
    const runsBefore = readdirSync(join(home, 'runs')).length;
    const bad = cli('train', ...common, '--trials', '500', '--out', join(dir, 'x'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /error \[BAD_TUNE_SETTINGS\]: tune setting trials must be an integer in \[1, 81\]/,
    );
    expect(readdirSync(join(home, 'runs'))).toHaveLength(runsBefore);
  });
});

describe('the train function in trial and plan modes (local adapters, real trainer)', () => {
  const context = { awsRequestId: 'r', functionName: 'train' } as unknown as Context;

  it('plans, trains a trial on the snapshot and writes nothing to the store', async () => {
    forgetTrialSplit();
    const store = new FsObjectStore(join(dir, 'store'));
    const key = 'features/snapshot=s1/part-00000.parquet';
    // A CSV stands in for the part file here: the trial reads the extension of the key.
    const csvKey = 'features/snapshot=s1/part-00000.csv';
    await store.upload(csv, csvKey);
    await store.put(
      'features/snapshot=s1/manifest.json',
      JSON.stringify({
        snapshotId: 's1',
        columns: [
          { name: 'loan_id', role: 'id' },
          { name: 'status', role: 'label' },
          { name: 'loan_date', role: 'time' },
        ],
      }),
    );
    const handler = createHandler({
      featuresStore: store,
      modelsStore: store,
      train: trainToDirectory,
      tmpDir: join(dir, 'tmp'),
    });
    const plan = (await handler(
      { mode: 'plan', tune: { trials: 3 }, base: { numThreads: 1 } },
      context,
    )) as TuningPlan;
    expect(plan.trials).toHaveLength(3);
    const before = (await store.list('')).map((o) => o.key);
    const trial = (await handler(
      { mode: 'trial', featuresKey: csvKey, trial: plan.trials[1] },
      context,
    )) as TrialResult;
    expect(trial).toMatchObject({ id: 1, rung: 0 });
    expect(trial.validAuc).toBeGreaterThan(0.6);
    expect((await store.list('')).map((o) => o.key)).toEqual(before);
    // A trial of a snapshot that is not there is the caller's mistake.
    await expect(
      handler({ mode: 'trial', featuresKey: key, trial: plan.trials[0] }, context),
    ).rejects.toMatchObject({
      code: 'UNKNOWN_FEATURES',
    });
    await expect(handler({ mode: 'trial', snapshotId: 's1' }, context)).rejects.toMatchObject({
      code: 'BAD_TRAIN_EVENT',
      message: expect.stringMatching(/^train event \(trial\): trial: /),
    });
    await expect(handler({ mode: 'tune' }, context)).rejects.toMatchObject({ code: 'BAD_TRAIN_EVENT' });
  });
});
