import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { freshHome } from '../../support/home.ts';
import { snapshotDir } from './publish-fixture.ts';

function cli(home: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('credit-risk features publish / get / current (CLI, real PGlite under a fresh home)', () => {
  it('publishes a snapshot, reads a customer back, and answers bad ids and dates with exit 2', async () => {
    const home = freshHome().root;
    const dir = await snapshotDir('cli1', [5008804, 5008805]);

    const published = cli(home, 'features', 'publish', '--snapshot', dir, '--json');
    expect(published.code).toBe(0);
    expect(JSON.parse(published.stdout)).toMatchObject({
      snapshotId: 'cli1',
      onlineRows: 2,
      alreadyCurrent: false,
    });
    expect(published.stderr).toContain('online store now serves snapshot cli1');

    const got = cli(home, 'features', 'get', '--id', '5008804', '--as-of', '2022-01-06');
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout)).toEqual({
      id: '5008804',
      asOf: '2022-01-06',
      snapshotId: 'cli1',
      features: {
        nb_previous_loans: 2,
        avg_amount_loans_previous: (250.5 + 5008804) / 2,
        age: 36,
        years_on_the_job: null,
        flag_own_car: 1,
        days_since_previous_loan: 1,
        amt_income_total: 54000,
      },
    });

    const unknown = cli(home, 'features', 'get', '--id', '42');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('error [UNKNOWN_CUSTOMER]');

    const early = cli(home, 'features', 'get', '--id', '5008804', '--as-of', '2020-01-01');
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('error [AS_OF_BEFORE_SNAPSHOT]');

    const current = cli(home, 'features', 'current');
    expect(JSON.parse(current.stdout)).toMatchObject({ offline: { snapshotId: 'cli1' }, online: 'cli1' });
  });

  it('refuses to publish a directory that is not a finished build (exit 2, nothing current)', async () => {
    const home = freshHome().root;
    const dir = await snapshotDir('cli2', [1], { manifest: false });
    const r = cli(home, 'features', 'publish', '--snapshot', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [SNAPSHOT_INCOMPLETE]');
    const none = cli(home, 'features', 'get', '--id', '1');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('error [NO_SNAPSHOT]');
  });
});
