/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalHome } from '#local/home.ts';
import { freshHome } from '../support/home.ts';
import { startServeProcess } from '../support/served-home.ts';

/**
 * The outcome loop of issue 19 through the CLI, as a user runs it: a trained, promoted model;
 * `credit-risk serve` (its default workers, each with its own prediction log file) answers 200
 * POST /predict over HTTP; `data outcomes` draws outcomes for the logged decisions; `monitor
 * outcomes` ingests them (plus rows that match nothing and a bad row); `monitor performance --json`
 * reports a realized AUC that this test recomputes by itself, by pairwise counting, from the
 * probabilities the HTTP answers carried and the statuses of the outcomes file.
 */
const repo = resolve(import.meta.dirname, '../..');
const BIN = join(repo, 'bin/credit-risk.mjs');
const REQUESTS = 200;
let home: LocalHome;
let env: NodeJS.ProcessEnv;
let serve: ChildProcess | undefined;
let version: string;
let offlineAuc: number;
/** id -> the probability the HTTP answer gave. */
const served = new Map<string, number>();
let today: string;

function run(...args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { cwd: repo, env, encoding: 'utf8' });
}

function ok(...args: string[]): string {
  const r = run(...args);
  if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

async function stopServe(): Promise<void> {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve!.once('exit', r));
  }
}

beforeAll(async () => {
  home = freshHome('cr-e2e-outcomes-');
  env = { ...process.env, CREDIT_RISK_HOME: home.root };
  const csv = join(home.data, 'loans.csv');
  ok('data', 'generate', '--rows', '8000', '--seed', '11', '--out', csv);
  const snapshotDir = join(home.data, 'snapshot');
  ok('features', 'build', '--input', csv, '--out', snapshotDir);
  ok('features', 'publish', '--snapshot', snapshotDir);
  const modelDir = join(home.data, 'model');
  ok('train', '--input', join(snapshotDir, 'features.parquet'), '--out', modelDir, '--trees', '30', '--json');
  offlineAuc = (
    JSON.parse(readFileSync(join(modelDir, 'card.json'), 'utf8')) as { metrics: { test: { auc: number } } }
  ).metrics.test.auc;
  version = (JSON.parse(ok('models', 'register', modelDir, '--json')) as { version: string }).version;
  ok('models', 'promote', version);
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  const idColumn = lines[0].split(',').indexOf('id');
  const ids = [...new Set(lines.slice(1).map((l) => l.split(',')[idColumn]))].slice(0, REQUESTS);

  const started = await startServeProcess(env, 'default');
  serve = started.proc;
  const base = started.base;
  // The first id twice: the log keeps both answers, the outcome matches the last one.
  for (const id of [ids[0], ...ids]) {
    const res = await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ id }) });
    const body = (await res.json()) as { probability: number; modelVersion: string };
    if (res.status !== 200) throw new Error(`POST /predict ${id}: ${res.status} ${JSON.stringify(body)}`);
    served.set(id, body.probability);
  }
  today = new Date().toISOString().slice(0, 10);
  // SIGTERM: each worker closes its prediction log file with everything in it.
  await stopServe();
}, 400_000);

afterAll(stopServe);

/** AUC as P(score of a random positive > score of a random negative), ties counting half. */
function pairwiseAuc(rows: Array<{ p: number; y: number }>): number {
  let wins = 0;
  let pairs = 0;
  for (const a of rows)
    if (a.y === 1)
      for (const b of rows)
        if (b.y === 0) {
          pairs++;
          wins += a.p > b.p ? 1 : a.p === b.p ? 0.5 : 0;
        }
  return wins / pairs;
}

describe('served predictions -> outcomes -> realized performance', () => {
  it('monitor predictions holds every answer with the probability the HTTP answer gave', () => {
    const log = JSON.parse(ok('monitor', 'predictions', '--json')) as {
      records: Array<{ customerId: string; probability: number; modelVersion: string; time: string }>;
      badLines: unknown[];
    };
    expect(log.badLines).toEqual([]);
    expect(log.records).toHaveLength(REQUESTS + 1);
    for (const r of log.records) {
      expect(r.modelVersion).toBe(version);
      expect(r.probability).toBe(served.get(r.customerId));
      expect(r.time.slice(0, 10)).toBe(today);
    }
    const text = ok('monitor', 'predictions', '--last', '3');
    expect(text).toContain(`${REQUESTS + 1} answers`);
  });

  let outcomesFile: string;
  it('data outcomes writes one outcome per logged decision', () => {
    outcomesFile = join(home.data, 'outcomes.csv');
    ok('data', 'outcomes', '--out', outcomesFile, '--seed', '3');
    const rows = readFileSync(outcomesFile, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('id,decision_date,status');
    expect(rows).toHaveLength(REQUESTS + 1);
    expect(new Set(rows.slice(1).map((r) => r.split(',')[0]))).toEqual(new Set(served.keys()));
    expect(rows.slice(1).every((r) => r.endsWith(`,${today},0`) || r.endsWith(`,${today},1`))).toBe(true);
  });

  it('monitor outcomes matches them, reports rows that match nothing and bad rows, and a re-ingest changes nothing', () => {
    const [first] = served.keys();
    // Unmatched: a customer never served, and a served customer on a day without an answer.
    appendFileSync(outcomesFile, `99999999999,${today},1\n${first},2020-01-01,0\n${first},not-a-date,1\n`);
    const summary = JSON.parse(ok('monitor', 'outcomes', '--input', outcomesFile, '--json'));
    expect(summary).toMatchObject({
      ingested: true,
      rows: REQUESTS + 3,
      matched: REQUESTS,
      unmatched: 2,
      rejected: 1,
      byModelVersion: { [version]: REQUESTS },
    });
    const text = ok('monitor', 'outcomes', '--input', outcomesFile);
    expect(text).toContain('already ingested');
    expect(text).toContain(`${REQUESTS + 3} rows: ${REQUESTS} matched, 2 unmatched, 1 rejected`);
    const again = JSON.parse(ok('monitor', 'outcomes', '--input', outcomesFile, '--json'));
    expect(again).toEqual({ ...summary, ingested: false });
  });

  it('monitor performance --json reports the realized AUC recomputed here from the HTTP answers and the file', () => {
    const statuses = new Map(
      readFileSync(outcomesFile, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','))
        .filter(([, date]) => date === today)
        .map(([id, , status]) => [id, Number(status)] as const),
    );
    const rows = [...served].map(([id, p]) => ({ p, y: statuses.get(id)! }));
    const positives = rows.filter((r) => r.y === 1).length;
    expect(positives).toBeGreaterThan(0);
    const report = JSON.parse(ok('monitor', 'performance', '--json')) as {
      versions: Array<{
        modelVersion: string;
        rows: number;
        positives: number;
        realizedAuc: number;
        offlineAuc: number;
        ks: number;
        ece: number;
        weeks: unknown[];
        deciles: Array<{ rows: number }>;
      }>;
    };
    expect(report.versions).toHaveLength(1);
    const [v] = report.versions;
    expect(v).toMatchObject({ modelVersion: version, rows: REQUESTS, positives, offlineAuc });
    expect(v.realizedAuc).toBeCloseTo(pairwiseAuc(rows), 10);
    expect(v.ks).toBeGreaterThan(0);
    expect(v.ece).toBeGreaterThanOrEqual(0);
    expect(v.deciles.reduce((s, d) => s + d.rows, 0)).toBe(REQUESTS);
    const text = ok('monitor', 'performance');
    expect(text).toContain(`realized AUC ${v.realizedAuc.toFixed(4)}`);
    expect(text).toContain(`offline AUC ${offlineAuc.toFixed(4)}`);
    // The monitoring page (GET /dashboard, monitor report) shows the same realized AUC.
    const page = join(home.data, 'monitoring.html');
    ok('monitor', 'report', '--out', page);
    const html = readFileSync(page, 'utf8');
    expect(html).not.toContain('no outcomes yet');
    expect(html).toContain(`<td data-metric="realizedAuc">${v.realizedAuc.toFixed(4)}</td>`);
  });

  it('an outcomes file without the columns is refused with exit 2 and its code', () => {
    const bad = join(home.data, 'bad.csv');
    appendFileSync(bad, 'customer,date,label\n1,2026-12-01,1\n');
    const r = run('monitor', 'outcomes', '--input', bad);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('BAD_OUTCOMES_HEADER');
  });
});
