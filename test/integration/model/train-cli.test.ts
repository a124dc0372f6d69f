import { describe, expect, it, beforeAll } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadExplainer } from '#lib/model/explainer-artifact.ts';
import { syntheticTable } from '../../unit/model/synthetic-data.ts';

const dir = mkdtempSync(join(tmpdir(), 'train-cli-'));
const csv = join(dir, 'loans.csv');

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: join(dir, 'home') },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function writeCsv(path: string, header: string, rows: string[]) {
  writeFileSync(path, [header, ...rows].join('\n') + '\n');
}

beforeAll(() => {
  const t = syntheticTable(6000, 8);
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
  writeCsv(csv, `loan_id,loan_date,${t.featureNames.join(',')},status`, rows);
});

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

describe('credit-risk train', () => {
  it('writes a byte-identical model.onnx for the same table, parameters and seed (and says so in --json)', () => {
    const args = [
      '--input',
      csv,
      '--target',
      'status',
      '--time-column',
      'loan_date',
      '--ignore',
      'loan_id',
      '--trees',
      '60',
      '--seed',
      '7',
      '--json',
    ];
    const a = cli('train', ...args, '--out', join(dir, 'a'));
    const b = cli('train', ...args, '--out', join(dir, 'b'), '--threads', '1');
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    const ja = JSON.parse(a.stdout);
    expect(Object.keys(ja).sort()).toEqual(
      [
        'auc',
        'brier',
        'ece',
        'ks',
        'logloss',
        'prAuc',
        'threshold',
        'trainSeconds',
        'trees',
        'version',
      ].sort(),
    );
    expect(sha256(join(dir, 'a', 'model.onnx'))).toBe(sha256(join(dir, 'b', 'model.onnx')));
    expect(ja.version).toBe(sha256(join(dir, 'a', 'model.onnx')));
    expect(JSON.parse(b.stdout).version).toBe(ja.version);
    expect(ja.auc).toBeGreaterThan(0.6);
    expect(a.stderr).toMatch(/tree 25\/60: validation logloss/);

    const card = JSON.parse(readFileSync(join(dir, 'a', 'card.json'), 'utf8'));
    expect(card.version).toBe(ja.version);
    expect(card.features).toEqual([
      'age',
      'nb_previous_loans',
      'avg_amount_loans_previous',
      'years_on_the_job',
      'flag_own_car',
      'noise',
    ]);
    expect(card.split.kind).toBe('out-of-time');
    expect(card.split.train.to < card.split.valid.from).toBe(true);
    expect(card.split.valid.to < card.split.test.from).toBe(true);
    expect(card.metrics.test.auc).toBe(ja.auc);
    expect(card.baseline.metrics.test.auc).toBeGreaterThan(0.5);
    expect(card.reference).toHaveLength(6);
    expect(card.metrics.slices.ageBand).toBeDefined();
    expect(card.training.peakRssBytes).toBeGreaterThan(0);
    expect(readFileSync(join(dir, 'a', 'report.html'), 'utf8')).toMatch(/<svg/);

    // The seed matters where randomness does: a random split.
    const random = [
      '--input',
      csv,
      '--target',
      'status',
      '--ignore',
      'loan_id,loan_date',
      '--trees',
      '20',
      '--json',
    ];
    const s7 = cli('train', ...random, '--seed', '7', '--out', join(dir, 's7'));
    const s7again = cli('train', ...random, '--seed', '7', '--out', join(dir, 's7again'));
    const s8 = cli('train', ...random, '--seed', '8', '--out', join(dir, 's8'));
    expect(JSON.parse(s7.stdout).version).toBe(JSON.parse(s7again.stdout).version);
    expect(JSON.parse(s8.stdout).version).not.toBe(JSON.parse(s7.stdout).version);
  });

  it('splits randomly by seed without a time column, and predict-file scores any table by the card order', () => {
    const r = cli(
      'train',
      '--input',
      csv,
      '--target',
      'status',
      '--ignore',
      'loan_id,loan_date',
      '--trees',
      '20',
      '--out',
      join(dir, 'r'),
    );
    expect(r.code).toBe(0);
    const card = JSON.parse(readFileSync(join(dir, 'r', 'card.json'), 'utf8'));
    expect(card.split.kind).toBe('random');
    expect(card.idColumns).toEqual(['loan_id', 'loan_date']);
    const out = join(dir, 'pred.csv');
    const p = cli('predict-file', '--model', join(dir, 'r', 'model.onnx'), '--input', csv, '--out', out);
    expect(p.code).toBe(0);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('loan_id,loan_date,probability');
    expect(lines).toHaveLength(6001);
    expect(lines[1]).toMatch(/^L0,2020-01-01,0\.\d+/);
  });

  it('predict-file --explain adds reason_1..reason_4 and contrib_<feature>; bias + their sum gives each probability', () => {
    const model = join(dir, 'x');
    const t = cli(
      'train',
      '--input',
      csv,
      '--target',
      'status',
      '--ignore',
      'loan_id,loan_date',
      '--trees',
      '15',
      '--out',
      model,
    );
    expect(t.code).toBe(0);
    const features = JSON.parse(readFileSync(join(model, 'card.json'), 'utf8')).features as string[];
    const out = join(dir, 'explained.csv');
    const p = cli(
      'predict-file',
      '--model',
      join(model, 'model.onnx'),
      '--input',
      csv,
      '--out',
      out,
      '--explain',
    );
    expect(p.code).toBe(0);
    const [header, ...rows] = readFileSync(out, 'utf8').trim().split('\n');
    expect(header.split(',')).toEqual([
      'loan_id',
      'loan_date',
      'probability',
      'reason_1',
      'reason_2',
      'reason_3',
      'reason_4',
      ...features.map((f) => `contrib_${f}`),
    ]);
    expect(rows).toHaveLength(6000);
    const { bias } = loadExplainer(readFileSync(join(model, 'explainer.json')))!;
    let worst = 0;
    const wrongReasons: string[] = [];
    for (const row of rows) {
      const cells = row.split(',');
      const contributions = cells.slice(7).map(Number);
      const margin = contributions.reduce((a, b) => a + b, bias);
      worst = Math.max(worst, Math.abs(1 / (1 + Math.exp(-margin)) - Number(cells[2])));
      const top = features
        .map((f, i) => [f, contributions[i]] as const)
        .filter(([, c]) => c > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([f]) => f);
      if (cells.slice(3, 7).join(',') !== [0, 1, 2, 3].map((k) => top[k] ?? '').join(','))
        wrongReasons.push(row);
    }
    expect(wrongReasons.slice(0, 3)).toEqual([]);
    // The probability is written with 9 significant digits.
    expect(worst).toBeLessThan(1e-6);

    // A model directory without explainer.json cannot explain: exit 2, and nothing written.
    rmSync(join(model, 'explainer.json'));
    const none = join(dir, 'none.csv');
    const n = cli(
      'predict-file',
      '--model',
      join(model, 'model.onnx'),
      '--input',
      csv,
      '--out',
      none,
      '--explain',
    );
    expect(n.code).toBe(2);
    expect(n.stderr).toMatch(/error \[NO_EXPLAINER\].*explainer.json .*missing/);
  });

  const bad: [string, string[], string, RegExp][] = [
    ['a missing target column', ['--target', 'nope'], 'MISSING_TARGET', /no target column "nope"/],
    ['a target that is not 0/1', ['--target', 'age'], 'BAD_TARGET', /must be 0 or 1/],
    [
      'a non-numeric feature column (named)',
      ['--target', 'status', '--ignore', 'loan_id'],
      'NON_NUMERIC_FEATURE',
      /feature column "loan_date"/,
    ],
  ];
  it.each(bad)('rejects %s with exit code 2 and one clear error', (_what, args, code, message) => {
    const r = cli('train', '--input', csv, ...args, '--out', join(dir, 'bad'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error [${code}]`);
    expect(r.stderr).toMatch(message);
  });

  it('rejects a single-class target and an empty table with exit code 2', () => {
    const single = join(dir, 'single.csv');
    writeCsv(
      single,
      'x,y',
      Array.from({ length: 50 }, (_, i) => `${i},0`),
    );
    const r1 = cli('train', '--input', single, '--target', 'y', '--out', join(dir, 'bad'));
    expect(r1.code).toBe(2);
    expect(r1.stderr).toContain('error [SINGLE_CLASS]');
    const empty = join(dir, 'empty.csv');
    writeCsv(empty, 'x,y', []);
    const r2 = cli('train', '--input', empty, '--target', 'y', '--out', join(dir, 'bad'));
    expect(r2.code).toBe(2);
    expect(r2.stderr).toContain('error [EMPTY_TABLE]');
  });

  it('takes ids, time and label from the manifest.json next to a features table', () => {
    const snap = mkdtempSync(join(tmpdir(), 'snap-'));
    const table = join(snap, 'features.csv');
    writeFileSync(table, readFileSync(csv));
    writeFileSync(
      join(snap, 'manifest.json'),
      JSON.stringify({
        snapshotId: 'snap-123',
        columns: [
          { name: 'loan_id', role: 'id' },
          { name: 'loan_date', role: 'time' },
          { name: 'status', role: 'label' },
        ],
      }),
    );
    const r = cli('train', '--input', table, '--trees', '10', '--out', join(snap, 'model'));
    expect(r.stderr).toBe(r.code === 0 ? r.stderr : '');
    expect(r.code).toBe(0);
    const card = JSON.parse(readFileSync(join(snap, 'model', 'card.json'), 'utf8'));
    expect(card.target).toBe('status');
    expect(card.split.timeColumn).toBe('loan_date');
    expect(card.data.snapshotId).toBe('snap-123');
    expect(card.data.manifestSha256).toBe(sha256(join(snap, 'manifest.json')));
    expect(card.features).not.toContain('loan_id');
  });
});
