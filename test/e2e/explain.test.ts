/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalHome } from '#local/home.ts';
import { freshHome } from '../support/home.ts';
import { openApiChecker } from '../integration/serving/openapi-validator.ts';
import { startServeProcess } from '../support/served-home.ts';

/**
 * Reasons and explanations through every entry point, on a real trained model: generated loans,
 * features built and published, `credit-risk train` (which writes explainer.json), registered and
 * promoted; then `credit-risk serve` (the server `npm start` runs, its default workers) answering
 * `{"id", "explain": true}` over HTTP, `credit-risk explain` reading the same store, and
 * `credit-risk score --explain` on the snapshot. The two equalities of the contract: bias + the
 * sum of the contributions = margin, and sigmoid(margin) = the ONNX probability.
 */
const repo = resolve(import.meta.dirname, '../..');
const BIN = join(repo, 'bin/credit-risk.mjs');
let home: LocalHome;
let env: NodeJS.ProcessEnv;
let serve: ChildProcess | undefined;
let base: string;
let version: string;
let features: string[];
let ids: string[];
let snapshotDir: string;
let primaryCode: string;
let serveStderr: () => string;

function ok(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repo, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

async function post(body: string): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  const res = await fetch(`${base}/predict`, { method: 'POST', body });
  return { status: res.status, headers: Object.fromEntries(res.headers.entries()), body: await res.json() };
}

interface Explanation {
  bias: number;
  margin: number;
  contributions: Record<string, number>;
}

beforeAll(async () => {
  home = freshHome('cr-e2e-explain-');
  env = { ...process.env, CREDIT_RISK_HOME: home.root };
  const csv = join(home.data, 'loans.csv');
  ok('data', 'generate', '--rows', '8000', '--seed', '11', '--out', csv);
  snapshotDir = join(home.data, 'snapshot');
  ok('features', 'build', '--input', csv, '--out', snapshotDir);
  ok('features', 'publish', '--snapshot', snapshotDir);
  const modelDir = join(home.data, 'model');
  ok('train', '--input', join(snapshotDir, 'features.parquet'), '--out', modelDir, '--trees', '30', '--json');
  features = (JSON.parse(readFileSync(join(modelDir, 'card.json'), 'utf8')) as { features: string[] })
    .features;
  version = (JSON.parse(ok('models', 'register', modelDir, '--json')) as { version: string }).version;
  ok('models', 'promote', version);
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  const idColumn = lines[0].split(',').indexOf('id');
  ids = [...new Set(lines.slice(1).map((l) => l.split(',')[idColumn]))].slice(0, 150);

  const started = await startServeProcess({ ...env, CREDIT_RISK_CLI_TRACE: '1' }, 'default');
  serve = started.proc;
  base = started.base;
  serveStderr = started.stderr;
  primaryCode = /\[cli\] compiled dist\/cli/.test(started.stderr()) ? 'compiled' : 'sources';
}, 300_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve!.once('exit', r));
  }
});

describe('POST /predict on credit-risk serve with a trained model', () => {
  it('the workers run the code the primary runs (the compiled build when it is current)', async () => {
    expect(serveStderr()).toMatch(/\[cli\] (compiled dist\/cli|sources through tsx)/);
    const health = (await (await fetch(`${base}/healthz`)).json()) as { worker?: number; code?: string };
    expect(health.worker).toEqual(expect.any(Number));
    expect(health.code).toBe(primaryCode);
  });

  it('{"id", "explain": true}: reasons, and an explanation where bias + sum = margin and sigmoid(margin) = probability', async () => {
    const checker = openApiChecker();
    let withReasons = 0;
    let worstSum = 0;
    let worstProbability = 0;
    for (const id of ids) {
      const r = await post(JSON.stringify({ id, explain: true }));
      expect(r.status).toBe(200);
      expect(checker.check('/predict', 'POST', r.status, r.headers, r.body)).toEqual([]);
      expect(r.body.modelVersion).toBe(version);
      const e = r.body.explanation as Explanation;
      expect(Object.keys(e.contributions)).toEqual(features);
      const sum = Object.values(e.contributions).reduce((s, c) => s + c, e.bias);
      worstSum = Math.max(worstSum, Math.abs(sum - e.margin));
      worstProbability = Math.max(
        worstProbability,
        Math.abs(1 / (1 + Math.exp(-e.margin)) - r.body.probability),
      );
      // The reasons are the largest positive contributions, in order, with the catalog's phrase.
      const positive = Object.entries(e.contributions)
        .filter(([, c]) => c > 0)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4);
      expect(
        r.body.reasons.map((x: { feature: string; contribution: number }) => [x.feature, x.contribution]),
      ).toEqual(positive);
      for (const reason of r.body.reasons) expect(reason.text).toMatch(/^[a-z][a-z ]+$/);
      if (r.body.reasons.length > 0) withReasons++;
    }
    expect(worstSum).toBeLessThan(1e-9);
    // float32 ONNX against float64 TreeSHAP.
    expect(worstProbability).toBeLessThan(1e-6);
    expect(withReasons).toBeGreaterThan(0);
  });

  it('without explain: reasons only; "explain": "yes" is a 400 INVALID_EXPLAIN in the usual error shape', async () => {
    const plain = await post(JSON.stringify({ id: ids[0] }));
    expect(plain.status).toBe(200);
    expect(Array.isArray(plain.body.reasons)).toBe(true);
    expect(plain.body).not.toHaveProperty('explanation');

    const bad = await post(JSON.stringify({ id: ids[0], explain: 'yes' }));
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({
      error: { code: 'INVALID_EXPLAIN', message: expect.stringContaining('"explain" must be true or false') },
    });
    expect(openApiChecker().check('/predict', 'POST', bad.status, bad.headers, bad.body)).toEqual([]);
  });
});

describe('credit-risk explain and score --explain on the same store and model', () => {
  it('explain --json is the /predict answer with explain: true, plus the as-of date and the values', async () => {
    const id = ids[3];
    const served = (await post(JSON.stringify({ id, explain: true }))).body;
    const report = JSON.parse(ok('explain', '--id', id, '--json'));
    expect(report).toMatchObject({
      id,
      modelVersion: version,
      probability: served.probability,
      reasons: served.reasons,
      explanation: served.explanation,
      asOf: new Date().toISOString().slice(0, 10),
    });
    expect(Object.keys(report.features)).toEqual(features);

    const table = ok('explain', '--id', id);
    expect(table).toContain(`customer ${id} as of `);
    for (const f of features) expect(table).toContain(f);
    expect(table).toMatch(/margin = bias \+ sum/);
    if (served.reasons.length > 0) expect(table).toContain('reason 1');
  });

  it('explain names an unknown customer with exit code 2', () => {
    const r = spawnSync(process.execPath, [BIN, 'explain', '--id', '999999999'], {
      cwd: repo,
      env,
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error [UNKNOWN_CUSTOMER]');
  });

  it('score --explain writes reason and contribution columns for the snapshot', () => {
    const out = join(home.data, 'explained.csv');
    const summary = JSON.parse(
      ok('score', '--input', join(snapshotDir, 'features.parquet'), '--out', out, '--explain', '--json'),
    ) as { rows: number; explained: string[] };
    expect(summary.explained).toEqual([
      'reason_1',
      'reason_2',
      'reason_3',
      'reason_4',
      ...features.map((f) => `contrib_${f}`),
    ]);
    const lines = readFileSync(out, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(summary.rows + 1);
    expect(lines[0].split(',').slice(-summary.explained.length)).toEqual(summary.explained);
  });
});
