/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { logPseudonym } from '#lib/privacy/log-pseudonym.ts';
import { logIdKeyFile } from '#local/root.ts';
import { freshHome } from '../support/home.ts';

/**
 * Request logs name no customer in clear (issue 21): `credit-risk serve` with two workers answers
 * known customers, unknown ones and malformed ids, all distinctive digit strings; then every
 * file of the home outside the stores that hold customers by design (the object store, the
 * generated data, PGlite) is searched for every id as a plain substring. The prediction lines
 * carry the keyed pseudonym instead (the key under keys/, owner-only), and stay small.
 */
const repo = resolve(import.meta.dirname, '../..');
const BIN = join(repo, 'bin/credit-risk.mjs');
const home = freshHome('cr-e2e-request-logs-');
const env = {
  ...process.env,
  CREDIT_RISK_HOME: home.root,
  CREDIT_RISK_WAIT_SCALE: '0',
  // Tests default to SILENT; the point here is what INFO writes.
  POWERTOOLS_LOG_LEVEL: 'INFO',
};
const GATE = JSON.stringify({
  requireBrierBeatsBaseRate: false,
  baselineAucMargin: -1,
  maxEce: 1,
  minAuc: 0,
  minTestPositives: 1,
  minTestRows: 50,
  maxAucDrop: 1,
});
let serve: ChildProcess | undefined;
let known: string[] = [];
// Unknown customers (404) and ids the API refuses (400): digit strings found nowhere else.
const UNKNOWN = ['918273645501', '918273645502', '918273645503'];
const MALFORMED = ['9182736455040000000000000', '-918273645505'];
const answers: number[] = [];

function ok(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repo, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

beforeAll(async () => {
  ok(
    'pipeline',
    'run',
    '--rows',
    '4000',
    '--train',
    '{"numTrees":3,"earlyStoppingRounds":0}',
    '--gate',
    GATE,
    '--no-traffic',
  );
  known = [
    ...new Set(
      readFileSync(join(home.data, 'loans-4000-seed42.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[1]),
    ),
  ].slice(0, 40);
  serve = spawn(process.execPath, [BIN, 'serve', '--workers', '2', '--port', '0'], {
    cwd: repo,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  serve.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 90_000;
  let base: string | undefined;
  while (!(base = /listening on (http:\/\/[\d.:]+)/.exec(stderr)?.[1])) {
    if (serve.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not start:\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  for (const id of [...known, ...UNKNOWN, ...MALFORMED]) {
    const res = await fetch(`${base}/predict`, {
      method: 'POST',
      body: JSON.stringify({ id, explain: true }),
    });
    await res.text();
    answers.push(res.status);
  }
  const exited = new Promise((r) => serve!.once('exit', r));
  serve.kill('SIGTERM'); // the workers flush their log files
  await exited;
}, 300_000);

afterAll(() => {
  if (serve && serve.exitCode === null) serve.kill('SIGKILL');
});

/** Files of the home that are not a store of customer records by design. */
function logLikeFiles(): string[] {
  const stores = ['store', 'data', 'pglite'].map((d) => join(home.root, d) + '/');
  return readdirSync(home.root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .filter((f) => !stores.some((s) => f.startsWith(s)));
}

describe('request logs (serve, 2 workers)', () => {
  it('answered every request as expected', () => {
    expect(answers).toEqual([
      ...known.map(() => 200),
      ...UNKNOWN.map(() => 404),
      ...MALFORMED.map(() => 400),
    ]);
  });

  it('no file outside the stores holds any requested id in clear', () => {
    const files = logLikeFiles();
    expect(files).toEqual(expect.arrayContaining([join(home.root, 'logs/predict.jsonl')]));
    const hits: string[] = [];
    for (const f of files) {
      const text = readFileSync(f).toString('latin1');
      for (const id of [...known, ...UNKNOWN, ...MALFORMED])
        if (text.includes(id)) hits.push(`${f.slice(home.root.length + 1)}: ${id}`);
    }
    expect(hits).toEqual([]);
  });

  it('prediction and rejection lines carry the keyed pseudonym, a key only the owner reads, and stay small', () => {
    expect(statSync(logIdKeyFile(home.root)).mode & 0o777).toBe(0o600);
    const key = readFileSync(logIdKeyFile(home.root)).toString('hex');
    const lines = readFileSync(join(home.root, 'logs/predict.jsonl'), 'utf8').trim().split('\n');
    const byMessage = (m: string) =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === m);
    const predictions = byMessage('prediction');
    expect(predictions.map((l) => l.customer).sort()).toEqual(
      known.map((id) => logPseudonym(id, key)).sort(),
    );
    expect(byMessage('rejected').map((l) => l.customer)).toEqual(
      expect.arrayContaining(UNKNOWN.map((id) => logPseudonym(id, key))),
    );
    // What the line must say to debug a request, and nothing the metrics already carry twice.
    expect(Object.keys(predictions[0]).sort()).toEqual(
      [
        'level',
        'message',
        'timestamp',
        'service',
        'sampling_rate',
        'requestId',
        'customer',
        'model',
        'prediction',
        'probability',
        'latencyMs',
      ].sort(),
    );
    for (const l of lines.filter((x) => x.includes('"prediction"')))
      expect(Buffer.byteLength(l)).toBeLessThan(320);
  });
});
