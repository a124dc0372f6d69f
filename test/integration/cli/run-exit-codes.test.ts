import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { failedStates, type RunRecord } from '#lib/pipeline/run-record.ts';
import { freshHome } from '../../support/home.ts';

/**
 * The exit code of every command that runs a state machine, through the real CLI process
 * (bin/credit-risk.mjs, which once turned the failed run's 1 into a 0): a failed run is exit 3,
 * after its result, with one RUN_FAILED line that names where it broke.
 */
const BIN = resolve('bin/credit-risk.mjs');
// The raw schema's header and nothing else: the run builds an empty snapshot and cannot train.
const HEADER =
  'loan_id,id,code_gender,flag_own_car,flag_own_realty,cnt_children,amt_income_total,name_income_type,' +
  'name_education_type,name_family_status,name_housing_type,days_birth,days_employed,flag_mobil,' +
  'flag_work_phone,flag_phone,flag_email,occupation_type,cnt_fam_members,status,birthday,' +
  'job_start_date,loan_date,loan_amount\n';

function cli(home: string, ...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home, CREDIT_RISK_WAIT_SCALE: '0' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The last line of stderr as JSON (the --json error line main prints). */
function lastJsonLine(stderr: string): { error: Record<string, unknown> } {
  return JSON.parse(stderr.trim().split('\n').at(-1) ?? '') as { error: Record<string, unknown> };
}

describe('exit codes of the commands that run a state machine', () => {
  const home = freshHome('cr-exit-');
  mkdirSync(join(home.store, 'raw'), { recursive: true });
  writeFileSync(join(home.store, 'raw', 'empty.csv'), HEADER);
  let failedRun = '';

  it('pipeline run whose run fails: the result on stdout, then RUN_FAILED naming the state, exit 3', () => {
    const r = cli(home.root, 'pipeline', 'run', '--input', 'raw/empty.csv', '--no-traffic', '--json');
    expect(r.code).toBe(3);
    const result = JSON.parse(r.stdout) as { executionId: string; status: string };
    expect(result.status).toBe('failed');
    failedRun = result.executionId;
    const status = cli(home.root, 'pipeline', 'status', failedRun, '--json');
    expect(status.code).toBe(0);
    const record = JSON.parse(status.stdout) as RunRecord;
    const broke = failedStates(record).find((s) => s.type !== 'Fail');
    expect(broke).toBeDefined();
    expect(lastJsonLine(r.stderr)).toEqual({
      error: {
        code: 'RUN_FAILED',
        executionId: failedRun,
        message: `run ${failedRun} failed at ${broke?.name}: ${broke?.error?.error}: ${broke?.error?.cause} (credit-risk pipeline status ${failedRun})`,
      },
    });
  }, 60_000);

  it('without --json: the summary line, then one error line, exit 3', () => {
    const r = cli(home.root, 'pipeline', 'run', '--input', 'raw/empty.csv', '--no-traffic');
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines.at(-2)).toMatch(
      /^training-\S+: failed in [\d.]+ s \(credit-risk pipeline status training-\S+\)$/,
    );
    expect(lines.at(-1)).toMatch(/^error \[RUN_FAILED\]: run training-\S+ failed at \w+: /);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  }, 60_000);

  it('pipeline resume of a run that fails again: exit 3', () => {
    const r = cli(home.root, 'pipeline', 'resume', failedRun, '--no-traffic', '--json');
    expect(r.code).toBe(3);
    const result = JSON.parse(r.stdout) as { executionId: string; status: string };
    expect(result.status).toBe('failed');
    expect(lastJsonLine(r.stderr).error).toMatchObject({
      code: 'RUN_FAILED',
      executionId: result.executionId,
    });
    const record = JSON.parse(
      cli(home.root, 'pipeline', 'status', result.executionId, '--json').stdout,
    ) as RunRecord;
    expect(record.resumedFrom).toBe(failedRun);
  }, 60_000);

  it('pipeline batch whose run fails (a snapshot that does not exist): exit 3', () => {
    const r = cli(home.root, 'pipeline', 'batch', '--snapshot', 'no-such-snapshot', '--json');
    expect(r.code).toBe(3);
    const result = JSON.parse(r.stdout) as { executionId: string; status: string };
    expect(result).toMatchObject({ status: 'failed', executionId: expect.stringMatching(/^batch-scoring-/) });
    expect(lastJsonLine(r.stderr).error).toMatchObject({
      code: 'RUN_FAILED',
      executionId: result.executionId,
      message: expect.stringMatching(/ failed at ListShards: /) as unknown,
    });
  }, 60_000);

  it('a command refused before any run starts keeps exit 2, and starts no run', () => {
    const before = cli(home.root, 'pipeline', 'history', '--json');
    const usage = cli(home.root, 'pipeline', 'run', '--rows', '10', '--input', 'raw/empty.csv');
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error \[BAD_ARGUMENTS\]: give --rows or --input, not both$/m);
    expect(cli(home.root, 'pipeline', 'history', '--json').stdout).toBe(before.stdout);
  });
});
