import { describe, expect, it } from '@jest/globals';
import { DuckDBInstance } from '@duckdb/node-api';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { RETRAIN_MARKER_PREFIX, compactTime } from '#lib/monitoring/drift-check.ts';
import { newRunRecord } from '#lib/pipeline/run-record.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { localHome } from '#local/home.ts';
import { RunStore } from '#local/runs/run-store.ts';
import { freshHome } from '../../support/home.ts';
import { writeBatchRun } from '../../unit/monitoring/batch-runs.ts';
import { UNIFORM_X_REFERENCE } from '../../unit/monitoring/fixtures.ts';

/** `credit-risk monitor drift` as a user runs it, against a fresh local home. */
function cli(home: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', 'monitor', 'drift', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const REFERENCE = UNIFORM_X_REFERENCE;

/** A champion whose card has one feature x (10 equal training bins), and a current snapshot with every x in [5, 10). */
async function driftedHome(): Promise<{ home: string; store: FsObjectStore; version: string }> {
  const home = freshHome();
  const store = new FsObjectStore(home.store);
  const registry = new ModelRegistry(store);
  const card = { threshold: 0.5, features: ['x'], data: { snapshotId: null }, reference: [REFERENCE] };
  const { version } = await registry.register({
    model: new TextEncoder().encode('m'),
    card: JSON.stringify(card),
    report: 'r',
  });
  await registry.promote(version);
  const file = join(home.root, 'part.parquet');
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  try {
    await c.run(
      `COPY (SELECT i AS loan_id, DATE '2021-12-31' - (i % 30)::INTEGER AS loan_date, 5 + 5 * (i + 0.5) / 500 AS x FROM range(500) t(i)) TO '${file}' (FORMAT parquet)`,
    );
  } finally {
    c.closeSync();
    db.closeSync();
  }
  await store.upload(file, 'features/snapshot=s1/part-00000.parquet');
  await store.put(
    'features/snapshot=s1/manifest.json',
    JSON.stringify({ snapshotId: 's1', timeColumn: 'loan_date' }),
  );
  await store.put(
    'features/CURRENT',
    JSON.stringify({
      snapshotId: 's1',
      publishedAt: '2022-01-01T00:00:00Z',
      manifestKey: 'features/snapshot=s1/manifest.json',
    }),
  );
  return { home: home.root, store, version };
}

describe('credit-risk monitor drift', () => {
  it('teaches with --help', () => {
    const r = cli(freshHome().root, '--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--window-days <n>');
    expect(r.stdout).toContain('How it works');
    expect(r.stdout).toContain('credit-risk monitor drift --retrain');
  });

  it('without a champion says so and exits 0, writing nothing', () => {
    const home = freshHome().root;
    const r = cli(home);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/drift check skipped: model credit-risk has no champion/);
    expect(r.stdout).toBe('');
  });

  it('refuses bad numbers with exit code 2', () => {
    const r = cli(freshHome().root, '--threshold', '-1');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BAD_NUMBER.*--threshold must be a number > 0/);
  });

  it('reports drift as a table and as JSON, with the report in the local store', async () => {
    const { home, store } = await driftedHome();
    const table = cli(home, '--min-rows', '100');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/\n {2}x\s+drifted\s+\d+\.\d{4}/);
    expect(table.stdout).toMatch(/threshold 0\.2: RETRAIN/);
    expect(table.stdout).toContain(
      "baseline: the card's training rows (the champion card names no training snapshot)",
    );
    const json = cli(home, '--min-rows', '100', '--threshold', '100', '--json');
    const outcome = JSON.parse(json.stdout) as {
      status: string;
      reportKey: string;
      report: { threshold: number; decision: { retrain: boolean } };
    };
    expect(outcome).toMatchObject({
      status: 'checked',
      report: { threshold: 100, decision: { retrain: false } },
    });
    expect(await store.head(outcome.reportKey)).toBeDefined();
    expect(
      (await store.list('monitoring/drift/')).filter((o) => !o.key.startsWith(RETRAIN_MARKER_PREFIX)),
    ).toHaveLength(2);
  });

  it('prints the score line: not enough batch runs, then the PSI of the latest run against the first; --json has the score section', async () => {
    const { home, store, version } = await driftedHome();
    const before = cli(home, '--min-rows', '100');
    expect(before.code).toBe(0);
    expect(before.stdout).toMatch(/\nscore drift: not enough batch runs: 0 complete/);
    await writeBatchRun(store, home, {
      version,
      snapshotId: 's0',
      createdAt: '2022-01-01T03:00:00.000Z',
      lo: 0,
      hi: 0.3,
    });
    await writeBatchRun(store, home, {
      version,
      snapshotId: 's1',
      createdAt: '2022-01-02T03:00:00.000Z',
      lo: 0.2,
      hi: 0.5,
    });
    const table = cli(home, '--min-rows', '100');
    expect(table.stdout).toMatch(
      /\nscore PSI \d+\.\d{4} \(drifted; reported, not a retrain reason\): latest batch run snapshot s1 scored 2022-01-02T03:00:00.000Z/,
    );
    expect(table.stdout).toMatch(
      /against the first, snapshot s0 scored 2022-01-01T03:00:00.000Z \(1,000 of 1,000 rows, loans 2021-12-02 .. 2021-12-31\)/,
    );
    const json = JSON.parse(cli(home, '--min-rows', '100', '--json').stdout) as {
      report: { score: { available: boolean; psi: number; referenceRun: { snapshotId: string } } };
    };
    expect(json.report.score).toMatchObject({ available: true, referenceRun: { snapshotId: 's0' } });
    expect(json.report.score.psi).toBeGreaterThan(0.2);
  });

  it('--retrain within the cooldown starts nothing and says until when', async () => {
    const { home, store } = await driftedHome();
    await store.put(`${RETRAIN_MARKER_PREFIX}${compactTime(new Date(Date.now() - 86_400_000))}.json`, '{}');
    const r = cli(home, '--min-rows', '100', '--retrain', '--json');
    expect(r.code).toBe(0);
    const outcome = JSON.parse(r.stdout) as {
      report: { retrain: { started: boolean; cooldown?: { days: number } }; decision: { retrain: boolean } };
    };
    expect(outcome.report.retrain).toMatchObject({ started: false, cooldown: { days: 7 } });
    expect(outcome.report.decision.retrain).toBe(false);
  });

  it('--retrain while another training run is in flight (its record still running) starts nothing and names it', async () => {
    const { home, store } = await driftedHome();
    // What a `pipeline run` in another terminal has saved after its first states.
    const runs = new RunStore(localHome(home).runs);
    const startedAt = new Date(Date.now() - 600_000);
    runs.save(
      newRunRecord({
        executionId: 'training-other-terminal',
        stateMachine: 'training',
        input: { input: 'raw/loans.csv' },
        startedAt,
      }),
    );
    const r = cli(home, '--min-rows', '100', '--retrain', '--input', 'raw/loans.csv', '--json');
    expect(r.code).toBe(0);
    const outcome = JSON.parse(r.stdout) as {
      report: {
        retrain: { started: boolean; running?: unknown };
        decision: { retrain: boolean; reasons: string[] };
      };
    };
    expect(outcome.report.retrain).toMatchObject({
      started: false,
      running: [{ name: 'training-other-terminal', startedAt: startedAt.toISOString() }],
    });
    expect(outcome.report.decision.retrain).toBe(false);
    expect(outcome.report.decision.reasons.at(-1)).toMatch(
      /^already running: training execution training-other-terminal \(started /,
    );
    expect(r.stderr).not.toContain('running the training pipeline');
    expect(runs.list().map((x) => x.executionId)).toEqual(['training-other-terminal']);
    expect(await store.list(RETRAIN_MARKER_PREFIX)).toEqual([]);
  });

  it('--retrain whose training run fails: the report is printed and written, then RUN_FAILED and exit 3', async () => {
    const { home, store } = await driftedHome();
    // Only the raw header: the retraining builds an empty snapshot and cannot train.
    await store.put('raw/empty.csv', 'loan_id,id,status,loan_date\n');
    const r = cli(
      home,
      '--min-rows',
      '100',
      '--retrain',
      '--input',
      'raw/empty.csv',
      '--no-traffic',
      '--json',
    );
    expect(r.code).toBe(3);
    const outcome = JSON.parse(r.stdout) as {
      reportKey: string;
      report: { retrain: { started: boolean; executionId: string } };
    };
    expect(outcome.report.retrain).toMatchObject({ started: true });
    expect(await store.head(outcome.reportKey)).toBeDefined();
    const run = new RunStore(localHome(home).runs).get(outcome.report.retrain.executionId);
    expect(run.status).toBe('failed');
    const error = JSON.parse(r.stderr.trim().split('\n').at(-1) ?? '') as { error: Record<string, unknown> };
    expect(error.error).toMatchObject({
      code: 'RUN_FAILED',
      executionId: run.executionId,
      message: expect.stringMatching(new RegExp(`^run ${run.executionId} failed at \\w+: `)) as unknown,
    });
  }, 60_000);

  it('--retrain with nothing to retrain on asks for --input', async () => {
    const { home } = await driftedHome();
    const r = cli(home, '--min-rows', '100', '--retrain');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/NO_RAW_INPUT.*give --input <raw key>/);
  });
});
