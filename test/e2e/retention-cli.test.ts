import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshHome } from '../support/home.ts';
import { SMALL_RUN_GATE } from '../support/gates.ts';

/**
 * `credit-risk data retention [--apply]` on a home made by the real commands: a training run
 * (the champion trained on snapshot S1), batch scoring of S1, then two more snapshots published
 * (S2, then S3 current). Every file is then made 1,000 days old: everything with a period is past
 * it, and what a pointer names must survive --apply (S3: CURRENT; S1: the champion's training
 * snapshot and the scored snapshot of predictions/<model>/CURRENT; its batch run), while S2, the
 * raw files, quarantine, logs and the rest go.
 */
const home = freshHome('cr-e2e-retention-');
const env = { ...process.env, CREDIT_RISK_HOME: home.root, CREDIT_RISK_WAIT_SCALE: '0' };
const GATE = JSON.stringify(SMALL_RUN_GATE);

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env,
    timeout: 180_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = cli(...args);
  if (r.code !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

const current = () =>
  (JSON.parse(readFileSync(join(home.store, 'features', 'CURRENT'), 'utf8')) as { snapshotId: string })
    .snapshotId;

let s1 = '';
let s2 = '';
let s3 = '';

beforeAll(() => {
  ok(
    'pipeline',
    'run',
    '--rows',
    '3000',
    '--train',
    '{"numTrees":3,"earlyStoppingRounds":0}',
    '--gate',
    GATE,
    '--no-traffic',
  );
  s1 = current();
  ok('pipeline', 'batch');
  const raw = join(home.data, 'loans-3000-seed42.csv');
  for (const asOf of ['2022-03-01', '2022-06-01']) {
    const dir = mkdtempSync(join(tmpdir(), 'cr-e2e-retention-build-'));
    ok('features', 'build', '--input', raw, '--as-of', asOf, '--out', dir);
    ok('features', 'publish', '--snapshot', dir);
  }
  s3 = current();
  s2 = readdirSync(join(home.store, 'features'))
    .map((d) => /^snapshot=(.+)$/.exec(d)?.[1])
    .find((id) => id !== undefined && id !== s1 && id !== s3)!;
  const old = new Date(Date.now() - 1000 * 86_400_000);
  for (const e of readdirSync(home.root, { recursive: true, withFileTypes: true }))
    if (e.isFile()) utimesSync(join(e.parentPath, e.name), old, old);
}, 300_000);

describe('credit-risk data retention (CLI)', () => {
  it('lists what is past its period, and keeps what a pointer names with the reason', () => {
    expect(new Set([s1, s2, s3]).size).toBe(3);
    const plan = JSON.parse(ok('data', 'retention', '--json'));
    expect(plan.applied).toBe(false);
    const expired = plan.expired.map((u: { unit: string }) => u.unit);
    expect(expired).toEqual(
      expect.arrayContaining([
        `store/features/snapshot=${s2}/`,
        'store/raw/loans-3000-seed42.csv',
        'data/loans-3000-seed42.csv',
        `store/quarantine/snapshot=${s3}/`,
        'logs/pipeline.jsonl',
      ]),
    );
    const kept = Object.fromEntries(
      plan.protected.map((u: { unit: string; keptBecause: string }) => [u.unit, u.keptBecause]),
    );
    expect(kept[`store/features/snapshot=${s3}/`]).toBe('features/CURRENT names it');
    expect(kept[`store/features/snapshot=${s1}/`]).toMatch(
      /^the champion [0-9a-f]{12} of credit-risk was trained on it$/,
    );
    expect(Object.keys(kept).filter((u) => u.startsWith('store/predictions/'))).toHaveLength(1);
    expect(existsSync(join(home.store, 'features', `snapshot=${s2}`))).toBe(true); // listing deletes nothing
    const text = ok('data', 'retention');
    expect(text).toContain('kept although past the period');
    expect(text).toContain('features/CURRENT names it');
  });

  it('--apply deletes exactly the expired units; serving, drift and batch scoring still work', () => {
    const applied = JSON.parse(ok('data', 'retention', '--apply', '--json'));
    expect(applied.applied).toBe(true);
    expect(applied.deleted).toBe(
      applied.expired.reduce((n: number, u: { files: string[] }) => n + u.files.length, 0),
    );
    expect(existsSync(join(home.store, 'features', `snapshot=${s2}`))).toBe(false);
    expect(existsSync(join(home.store, 'raw', 'loans-3000-seed42.csv'))).toBe(false);
    for (const id of [s1, s3])
      expect(existsSync(join(home.store, 'features', `snapshot=${id}`, 'manifest.json'))).toBe(true);
    expect(current()).toBe(s3);
    expect(JSON.parse(ok('features', 'get', '--id', '5008804')).snapshotId).toBe(s3);
    expect(JSON.parse(ok('monitor', 'drift', '--json')).status).toBe('checked');
    expect(JSON.parse(ok('data', 'retention', '--json')).expired).toEqual([]);
    // A new batch run moves predictions/<model>/CURRENT: the old run is no longer protected.
    ok('pipeline', 'batch');
    const again = JSON.parse(ok('data', 'retention', '--json'));
    expect(again.expired.map((u: { unit: string }) => u.unit)).toEqual([
      expect.stringMatching(new RegExp(`^store/predictions/credit-risk/[0-9a-f]{64}/snapshot=${s1}/$`)),
    ]);
  });

  it('a bad --period is exit 2 with BAD_PERIOD', () => {
    const r = cli('data', 'retention', '--period', 'forever=1');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('error [BAD_PERIOD]');
  });
});
