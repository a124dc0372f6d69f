/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { RunRecord } from '#lib/pipeline/run-record.ts';
import { main } from '#local/cli.ts';
import type { LocalHome } from '#local/home.ts';
import { freshHome } from '../support/home.ts';
import { SMALL_RUN_GATE } from '../support/gates.ts';

/**
 * `credit-risk pipeline run|status|history|resume` through the CLI entry point, on a fresh home
 * (CREDIT_RISK_HOME) and 4,000 generated rows: the --json contract, the records, the failure path
 * with an injected fault, and resume.
 */
const home = freshHome('cr-e2e-cli-');
const GATE = JSON.stringify(SMALL_RUN_GATE);
let out: string[] = [];
let err: string[] = [];

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  out = [];
  err = [];
  const write = (sink: string[]) => (chunk: unknown) => sink.push(String(chunk)) > 0;
  const o = jest.spyOn(process.stdout, 'write').mockImplementation(write(out));
  const e = jest.spyOn(process.stderr, 'write').mockImplementation(write(err));
  const c = jest
    .spyOn(console, 'error')
    .mockImplementation((...a: unknown[]) => void err.push(`${a.join(' ')}\n`));
  process.exitCode = 0;
  try {
    const code = await main(['node', 'credit-risk', ...args]);
    return { code, stdout: out.join(''), stderr: err.join('') };
  } finally {
    o.mockRestore();
    e.mockRestore();
    c.mockRestore();
    process.exitCode = 0;
  }
}

beforeAll(() => {
  process.env.CREDIT_RISK_HOME = home.root;
  process.env.CREDIT_RISK_WAIT_SCALE = '0';
});

afterAll(() => {
  delete process.env.CREDIT_RISK_HOME;
  delete process.env.CREDIT_RISK_WAIT_SCALE;
  delete process.env.CREDIT_RISK_FAIL_AT;
});

describe('credit-risk pipeline (CLI)', () => {
  let firstRun = '';

  it('run --json prints exactly executionId, status, modelVersion, decision, seconds', async () => {
    const r = await cli(
      'pipeline',
      'run',
      '--rows',
      '4000',
      '--train',
      '{"numTrees":3,"earlyStoppingRounds":0}',
      '--gate',
      GATE,
      '--no-traffic',
      '--json',
    );
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(result)).toEqual(['executionId', 'status', 'modelVersion', 'decision', 'seconds']);
    expect(result).toMatchObject({
      status: 'succeeded',
      decision: 'promoted',
      modelVersion: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(r.stderr).toMatch(/✓ ExtractFeatures/);
    firstRun = result.executionId as string;
  }, 180_000);

  it('a fault fails the run with exit code 3, status names the state, resume finishes it', async () => {
    process.env.CREDIT_RISK_FAIL_AT = 'BuildImage';
    const failed = await cli(
      'pipeline',
      'run',
      '--rows',
      '4000',
      '--train',
      '{"numTrees":4,"earlyStoppingRounds":0}',
      '--gate',
      GATE,
      '--no-traffic',
      '--canary',
      '{"minCanaryRequests":0,"minChampionRequests":1000000000}',
      '--json',
    );
    delete process.env.CREDIT_RISK_FAIL_AT;
    expect(failed.code).toBe(3);
    const run = JSON.parse(failed.stdout) as { executionId: string; status: string; decision: string | null };
    expect(run).toMatchObject({ status: 'failed', decision: null });
    expect(JSON.parse(failed.stderr.trim().split('\n').at(-1) ?? '')).toEqual({
      error: {
        code: 'RUN_FAILED',
        executionId: run.executionId,
        message: expect.stringMatching(
          new RegExp(
            `^run ${run.executionId} failed at BuildImage: InjectedFault: fault injected at BuildImage`,
          ),
        ) as unknown,
      },
    });

    const status = await cli('pipeline', 'status', run.executionId);
    expect(status.stdout).toMatch(/^status {4}failed/m);
    expect(status.stdout).toMatch(
      /^BuildImage\s+Task\s+\S+ \S+\s+caught InjectedFault: fault injected at BuildImage/m,
    );
    expect(status.stdout).toContain(`credit-risk pipeline resume ${run.executionId}`);

    const resumed = await cli('pipeline', 'resume', run.executionId, '--no-traffic', '--json');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'succeeded', decision: 'promoted' });
    expect(resumed.stderr).toMatch(/✓ Train\s+\S+ s\s+\(reused from the failed run\)/);
    const notes = readFileSync(join(home.notifications, 'notifications.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { subject: string });
    expect(notes.map((n) => n.subject)).toEqual([
      'credit-risk: new champion',
      'credit-risk: training run failed',
      'credit-risk: new champion',
    ]);
  }, 180_000);

  it('history lists every run newest first; status and resume refuse what they cannot do', async () => {
    const history = await cli('pipeline', 'history', '--json');
    const runs = JSON.parse(history.stdout) as { executionId: string; status: string }[];
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'failed', 'succeeded']);
    expect(runs.at(-1)?.executionId).toBe(firstRun);
    const unknown = await cli('pipeline', 'status', 'nope');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/error \[UNKNOWN_RUN\]/);
    const notFailed = await cli('pipeline', 'resume', firstRun);
    expect(notFailed.code).toBe(2);
    expect(notFailed.stderr).toMatch(/error \[NOT_FAILED\]/);
  }, 60_000);

  it('batch runs the batch-scoring state machine: every snapshot row scored by the champion, manifest last', async () => {
    const r = await cli('pipeline', 'batch', '--json');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(Object.keys(result)).toEqual([
      'executionId',
      'status',
      'snapshotId',
      'modelVersion',
      'shards',
      'rows',
      'positives',
      'manifestKey',
      'seconds',
    ]);
    const aliases = JSON.parse(
      readFileSync(join(home.store, 'models', 'credit-risk', 'aliases.json'), 'utf8'),
    ) as { champion: string };
    const current = JSON.parse(readFileSync(join(home.store, 'features', 'CURRENT'), 'utf8')) as {
      snapshotId: string;
    };
    expect(result).toMatchObject({
      status: 'succeeded',
      modelVersion: aliases.champion,
      snapshotId: current.snapshotId,
    });
    const snapshot = JSON.parse(
      readFileSync(join(home.store, 'features', `snapshot=${current.snapshotId}`, 'manifest.json'), 'utf8'),
    ) as { validation: { rowsValid: number } };
    expect(result.rows).toBe(snapshot.validation.rowsValid); // every feature row scored once
    expect(result.rows).toBeGreaterThan(3000);
    const manifest = JSON.parse(readFileSync(join(home.store, result.manifestKey as string), 'utf8')) as {
      modelVersion: string;
    };
    expect(manifest.modelVersion).toBe(aliases.champion);
    expect(r.stderr).toMatch(/✓ WriteManifest/);
    const history = JSON.parse((await cli('pipeline', 'history', '--json')).stdout) as {
      executionId: string;
    }[];
    expect(history[0].executionId).toBe(result.executionId);
  }, 120_000);
});

/** Runs `fn` with CREDIT_RISK_HOME on a fresh home of its own, then points back at the suite's. */
async function inFreshHome(prefix: string, fn: (own: LocalHome) => Promise<void>): Promise<void> {
  const own = freshHome(prefix);
  process.env.CREDIT_RISK_HOME = own.root;
  try {
    await fn(own);
  } finally {
    delete process.env.CREDIT_RISK_FAIL_AT;
    process.env.CREDIT_RISK_HOME = home.root;
  }
}

describe('credit-risk start (CLI)', () => {
  it(
    'too few rows for the gate: a clear NO_CHAMPION error naming the gate reasons and a --rows that works, exit 2',
    () =>
      inFreshHome('cr-e2e-start-', async () => {
        const r = await cli('start', '--rows', '20000', '--no-serve');
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(
          /error \[NO_CHAMPION\]: no model to serve: the quality gate rejected the baseline model \(\w+/,
        );
        expect(r.stderr).toMatch(/try --rows 50000 or more/);
        expect(r.stderr).toMatch(/credit-risk pipeline status training-/);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
      }),
    120_000,
  );
});

describe('an interrupted run (its process gone, its record still running)', () => {
  it(
    'status and history say interrupted, and resume finishes it like a failed run',
    () =>
      inFreshHome('cr-e2e-interrupted-', async (own) => {
        process.env.CREDIT_RISK_FAIL_AT = 'BuildImage';
        const failed = await cli(
          'pipeline',
          'run',
          '--rows',
          '4000',
          '--train',
          '{"numTrees":4,"earlyStoppingRounds":0}',
          '--gate',
          GATE,
          '--no-traffic',
          '--json',
        );
        delete process.env.CREDIT_RISK_FAIL_AT;
        const id = (JSON.parse(failed.stdout) as { executionId: string }).executionId;
        // Make it what a killed process leaves: the record as of entering BuildImage, owned by a
        // process that no longer exists.
        const file = join(own.runs, id, 'run.json');
        const record = JSON.parse(readFileSync(file, 'utf8')) as RunRecord;
        const at = record.states.findIndex((s) => s.name === 'BuildImage');
        const { endedAt: _e, ms: _m, error: _x, ...entered } = record.states[at];
        const gone = spawnSync(process.execPath, ['-e', '']);
        const { error: _err, endedAt: _end, seconds: _s, output: _o, ...rest } = record;
        writeFileSync(
          file,
          JSON.stringify({
            ...rest,
            status: 'running',
            states: [...record.states.slice(0, at), entered],
            owner: { pid: gone.pid, host: hostname() },
          }),
        );

        const status = await cli('pipeline', 'status', id);
        expect(status.stdout).toMatch(/^status {4}interrupted/m);
        expect(status.stdout).toContain(
          `interrupted at BuildImage: its process (pid ${gone.pid}) is gone. Resume it: credit-risk pipeline resume ${id}`,
        );
        expect((await cli('pipeline', 'history')).stdout).toMatch(new RegExp(`^${id}\\s+interrupted`, 'm'));

        const resumed = await cli('pipeline', 'resume', id, '--no-traffic', '--json');
        expect(resumed.code).toBe(0);
        expect(JSON.parse(resumed.stdout)).toMatchObject({ status: 'succeeded', decision: 'promoted' });
        expect(resumed.stderr).toMatch(/✓ Train\s+\S+ s\s+\(reused from the failed run\)/);
      }),
    180_000,
  );
});
