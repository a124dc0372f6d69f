import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StalenessRecord } from '#lib/model/staleness.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

/**
 * `credit-risk staleness` on two tables with the same rows: one as generated, one whose labels
 * after 2022-06-30 follow another relation (a drift the model never saw).
 */
const dir = mkdtempSync(join(tmpdir(), 'staleness-cli-'));
const clean = join(dir, 'clean.csv');
const drifted = join(dir, 'drifted.csv');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: join(dir, 'home') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(() => {
  const t = syntheticTable(24_000, 6);
  const header = `loan_id,loan_date,${t.featureNames.join(',')},status`;
  const cleanRows: string[] = [];
  const driftRows: string[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const day = new Date(Date.UTC(2020, 0, 1) + t.day[i] * 86_400_000).toISOString().slice(0, 10);
    const features = t.columns.map((c) => (Number.isNaN(c[i]) ? '' : String(c[i])));
    cleanRows.push([`L${i}`, day, ...features, String(t.label[i])].join(','));
    // After mid-2022 the label no longer follows the features: the positives are the rows the
    // model ranks lowest (young applicants with no previous loans become safe, and so on).
    const label = day > '2022-06-30' ? (t.truth[i] < 0.03 ? 1 : 0) : t.label[i];
    driftRows.push([`L${i}`, day, ...features, String(label)].join(','));
  }
  writeFileSync(clean, [header, ...cleanRows].join('\n') + '\n');
  writeFileSync(drifted, [header, ...driftRows].join('\n') + '\n');
});

const common = ['--target', 'status', '--time-column', 'loan_date', '--ignore', 'loan_id', '--threads', '1'];

describe('credit-risk staleness', () => {
  it('trains up to a date and scores each later month; a drift shows as lost AUC from its month on', () => {
    const a = cli('staleness', '--input', clean, '--train-until', '2022-06-30', ...common, '--json');
    const b = cli(
      'staleness',
      '--input',
      clean,
      '--score-input',
      drifted,
      '--train-until',
      '2022-06-30',
      ...common,
      '--out',
      join(dir, 'study'),
      '--json',
    );
    expect([a.code, b.code]).toEqual([0, 0]);
    const same = JSON.parse(a.stdout) as StalenessRecord;
    const drift = JSON.parse(b.stdout) as StalenessRecord;
    expect(same.trainedUntil <= '2022-06-30').toBe(true);
    expect(same.months[0].month).toBe('2022-07');
    expect(same.months.map((m) => m.month)).toEqual(drift.months.map((m) => m.month));
    // The same rows, scored by the same model: only the labels differ.
    expect(same.months.map((m) => m.meanScore)).toEqual(drift.months.map((m) => m.meanScore));
    const mean = (r: StalenessRecord) =>
      r.months.reduce((s, m) => s + (m.auc ?? 0) * m.rows, 0) / r.months.reduce((s, m) => s + m.rows, 0);
    expect(mean(same)).toBeGreaterThan(0.65);
    expect(mean(drift)).toBeLessThan(0.5);
    // --out keeps the model and the record.
    expect(JSON.parse(readFileSync(join(dir, 'study', 'staleness.json'), 'utf8'))).toEqual(
      Object.fromEntries(Object.entries(drift).filter(([k]) => k !== 'monthsToLose001Auc')),
    );
    expect(JSON.parse(readFileSync(join(dir, 'study', 'card.json'), 'utf8')).staleness.timeColumn).toBe(
      'loan_date',
    );
  });

  it('measures a trained model on the rows after its validation split, in a table a person reads', () => {
    const trained = cli('train', '--input', clean, ...common, '--trees', '40', '--out', join(dir, 'model'));
    expect(trained.code).toBe(0);
    const card = JSON.parse(readFileSync(join(dir, 'model', 'card.json'), 'utf8')) as {
      split: { valid: { to: string }; test: { rows: number } };
      staleness: StalenessRecord;
    };
    const r = cli('staleness', '--model', join(dir, 'model'), '--input', clean);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`trained on data up to ${card.split.valid.to}`);
    expect(r.stdout).toMatch(/^month +after +rows/m);
    // The rows after the validation split are the test split: the same months the card recorded.
    for (const m of card.staleness.months) expect(r.stdout).toContain(`${m.month} `);
  });

  it('says what is missing', () => {
    const r = cli('staleness', '--input', clean, ...common);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/error \[MISSING_OPTION\]: give --train-until/);
    const bad = cli('staleness', '--input', clean, '--train-until', '2022-13-01', ...common);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/error \[BAD_DATE\]/);
  });
});
