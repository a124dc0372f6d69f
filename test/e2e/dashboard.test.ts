/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { LocalHome } from '#local/home.ts';
import { freshHome } from '../support/home.ts';
import { startServeProcess } from '../support/served-home.ts';

/**
 * The monitoring page end to end: a trained model registered and promoted, a drift report
 * (`credit-risk monitor drift`), `credit-risk serve` answering KNOWN + UNKNOWN requests, then GET
 * /dashboard over HTTP and rendered by Debian's headless chromium (the DOM after layout, and a
 * screenshot), and `credit-risk monitor report --out` rendered the same way. Under CI=true a
 * missing chromium fails the rendering tests; elsewhere they are skipped with a message.
 */
const repo = resolve(import.meta.dirname, '../..');
const BIN = join(repo, 'bin/credit-risk.mjs');
const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const KNOWN = 40;
const UNKNOWN = 3;
let home: LocalHome;
let env: NodeJS.ProcessEnv;
let serve: ChildProcess | undefined;
let base: string;
let version: string;
let profile: string;

function ok(...args: string[]): string {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repo, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

function chromium(...args: string[]): { stdout: string; stderr: string } {
  if (!CHROMIUM) throw new Error('chromium is not installed (apt-get install -y chromium; .ci/run does)');
  const r = spawnSync(
    CHROMIUM,
    ['--headless', '--no-sandbox', '--disable-gpu', `--user-data-dir=${profile}`, ...args],
    { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`chromium ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

/** The text of the cell `<td data-metric="name">` in the row of `version`. */
function versionCell(html: string, metric: string): string | undefined {
  const row = new RegExp(`<tr data-version="${version}">(.*?)</tr>`, 's').exec(html)?.[1];
  return row ? new RegExp(`<td data-metric="${metric}">([^<]*)</td>`).exec(row)?.[1] : undefined;
}

/** The PNG's width and height from its IHDR chunk (throws when the bytes are not a PNG). */
function pngSize(bytes: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (!bytes.subarray(0, 8).equals(signature) || bytes.toString('latin1', 12, 16) !== 'IHDR')
    throw new Error('not a PNG');
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

const renders = CHROMIUM || process.env.CI === 'true' ? it : it.skip;
if (!CHROMIUM && process.env.CI !== 'true')
  console.warn('dashboard e2e: no chromium at /usr/bin/chromium, the rendering tests are skipped');

beforeAll(async () => {
  home = freshHome('cr-e2e-dashboard-');
  profile = mkdtempSync(join(tmpdir(), 'cr-e2e-chromium-'));
  env = { ...process.env, CREDIT_RISK_HOME: home.root };
  const csv = join(home.data, 'loans.csv');
  ok('data', 'generate', '--rows', '4000', '--seed', '7', '--out', csv);
  const snapshot = join(home.data, 'snapshot');
  ok('features', 'build', '--input', csv, '--out', snapshot);
  ok('features', 'publish', '--snapshot', snapshot);
  const modelDir = join(home.data, 'model');
  ok('train', '--input', join(snapshot, 'features.parquet'), '--out', modelDir, '--trees', '20', '--json');
  version = (JSON.parse(ok('models', 'register', modelDir, '--json')) as { version: string }).version;
  ok('models', 'promote', version);
  ok('monitor', 'drift');
  const lines = readFileSync(csv, 'utf8').trim().split('\n');
  const idColumn = lines[0].split(',').indexOf('id');
  const ids = [...new Set(lines.slice(1).map((l) => l.split(',')[idColumn]))].slice(0, KNOWN);
  expect(ids).toHaveLength(KNOWN);

  const started = await startServeProcess(env, 1);
  serve = started.proc;
  base = started.base;
  for (const id of ids) {
    const res = await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ id }) });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
  }
  for (let i = 0; i < UNKNOWN; i++) {
    const res = await fetch(`${base}/predict`, {
      method: 'POST',
      body: JSON.stringify({ id: String(9_900_000 + i) }),
    });
    expect(res.status).toBe(404);
    await res.arrayBuffer();
  }
  // The server writes its EMF lines in batches (at most 20 ms late): wait until the page has them
  // all, as a user reloading would.
  const until = Date.now() + 15_000;
  for (;;) {
    const html = await (await fetch(`${base}/dashboard`)).text();
    if (versionCell(html, 'requests') === String(KNOWN + UNKNOWN)) break;
    if (Date.now() > until)
      throw new Error(`the page never counted ${KNOWN + UNKNOWN} requests: ${versionCell(html, 'requests')}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}, 300_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve!.once('exit', r));
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
});

/** What both the served page and the written file must show, checked on a DOM. */
function expectPanelsAndNumbers(dom: string): void {
  for (const id of ['traffic', 'canary', 'drift', 'performance', 'alarms'])
    expect(dom).toContain(`id="panel-${id}"`);
  expect(versionCell(dom, 'requests')).toBe(String(KNOWN + UNKNOWN));
  expect(versionCell(dom, 'predictions')).toBe(String(KNOWN));
  expect(versionCell(dom, 'clientErrors')).toBe(String(UNKNOWN));
  expect(versionCell(dom, 'serverErrors')).toBe('0');
  expect(Number(versionCell(dom, 'p99LatencyMs'))).toBeGreaterThan(0);
  expect(dom).toContain(`<code title="${version}">${version.slice(0, 12)}</code>`);
  // The drift report of `monitor drift`: every feature with its PSI and two histograms.
  const reports = join(home.store, 'monitoring/drift');
  const newest = readdirSync(reports)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .at(-1)!;
  const report = JSON.parse(readFileSync(join(reports, newest), 'utf8')) as {
    features: Array<{ feature: string; psi: number | null }>;
  };
  expect(report.features.length).toBeGreaterThan(0);
  for (const f of report.features) {
    expect(dom).toContain(`data-feature="${f.feature}"`);
    if (f.psi !== null) expect(dom).toContain(`aria-label="${f.feature}: PSI ${f.psi.toFixed(4)}"`);
  }
  expect(dom).toContain('no outcomes yet');
  // Every alarm, each in one of CloudWatch's three states.
  const states = [...dom.matchAll(/<tr data-alarm="(\w+)"[^>]*>.*?data-metric="state">(\w+)</gs)];
  expect(states.length).toBe(11);
  for (const [, , state] of states) expect(['OK', 'ALARM', 'INSUFFICIENT_DATA']).toContain(state);
  const state = (id: string) => states.find(([, alarm]) => alarm === id)?.[2];
  expect(state('PredictCanaryErrorsAlarm')).toBe('OK');
  expect(state('DriftAlarm')).toBe('OK'); // today's report, PSI of the training snapshot against itself
  expect(state('StartPipelineErrorsAlarm')).toBe('INSUFFICIENT_DATA');
}

describe('the monitoring page', () => {
  it('GET /dashboard answers the page as text/html with the panels and the real counts', async () => {
    const res = await fetch(`${base}/dashboard`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expectPanelsAndNumbers(html);
    expect(html).not.toMatch(/<script|<link|https?:\/\//i);
  });

  renders(
    'headless chromium renders /dashboard: the DOM holds the panels and numbers, the screenshot is a real PNG',
    () => {
      const { stdout } = chromium('--dump-dom', `${base}/dashboard`);
      expectPanelsAndNumbers(stdout);
      // Laid-out charts: the SVGs survived parsing.
      expect((stdout.match(/<svg /g) ?? []).length).toBeGreaterThanOrEqual(4);
      const shot = join(home.tmp, 'dashboard.png');
      chromium(`--screenshot=${shot}`, '--window-size=1280,2000', `${base}/dashboard`);
      const png = readFileSync(shot);
      expect(pngSize(png)).toEqual({ width: 1280, height: 2000 });
      // A blank 1280x2000 PNG compresses to a few KB; tables, text and charts do not.
      expect(png.length).toBeGreaterThan(50_000);
    },
  );

  renders('credit-risk monitor report --out writes a file that renders the same', () => {
    const out = join(home.tmp, 'report', 'monitoring.html');
    const r = spawnSync(process.execPath, [BIN, 'monitor', 'report', '--out', out], {
      cwd: repo,
      env,
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`monitoring page written to ${out}`);
    expectPanelsAndNumbers(readFileSync(out, 'utf8'));
    const { stdout } = chromium('--dump-dom', `file://${out}`);
    expectPanelsAndNumbers(stdout);
  });

  it('monitor report without --out is a clear error with exit 2', () => {
    const r = spawnSync(process.execPath, [BIN, 'monitor', 'report'], { cwd: repo, env, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('MISSING_OUT');
  });
});
