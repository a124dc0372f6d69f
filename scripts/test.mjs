#!/usr/bin/env node
// `npm test`: Python env (for the Glue job, ONNX checks, linters, peers), typecheck, jest (unit,
// integration, e2e), jest against the AWS emulators (aws), pytest; then one closing line that adds up every runner.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { requirePythonOrExplain, requireScanToolsOrExplain } from './python-env.mjs';

const root = resolve(import.meta.dirname, '..');
const results = resolve(root, '.test-results');
rmSync(results, { recursive: true, force: true });
mkdirSync(results, { recursive: true });

const env = { ...process.env, SLS_TELEMETRY_DISABLED: '1', ONNXRUNTIME_NODE_INSTALL: 'skip' };
const python = requirePythonOrExplain();
if (python) {
  env.CREDIT_RISK_PYTHON = python;
  env.PYSPARK_PYTHON = python;
}
// checkov and cfn-lint for the offline proof of the infrastructure (test/integration/infra).
const scanBin = requireScanToolsOrExplain();
if (scanBin) env.CREDIT_RISK_SCAN_BIN = scanBin;

const totals = { passed: 0, failed: 0, skipped: 0 };
const step = (name, cmd, args) => {
  const t0 = Date.now();
  console.log(`\n=== ${name}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env });
  console.log(
    `=== ${name}: ${r.status === 0 ? 'ok' : 'FAILED'} in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
  );
  return r.status ?? 1;
};

let failedSteps = 0;
if (
  step('typecheck', process.execPath, [
    resolve(root, 'node_modules/typescript/bin/tsc'),
    '--noEmit',
    '-p',
    'tsconfig.json',
  ]) !== 0
) {
  failedSteps++;
  totals.failed++;
}

const jestArgs = process.argv.slice(2);
if (step('jest', process.execPath, [resolve(root, 'scripts/jest.mjs'), ...jestArgs]) !== 0) failedSteps++;
const jestFile = resolve(results, 'jest.json');
if (existsSync(jestFile)) {
  const j = JSON.parse(readFileSync(jestFile, 'utf8'));
  totals.passed += j.passed;
  totals.failed += j.failed;
  totals.skipped += j.skipped;
} else {
  totals.failed++;
}

// The AWS adapters against the emulators (moto, PostgreSQL + data-api-local): its own jest run,
// which starts and stops them (scripts/test-aws.mjs); it skips loudly outside CI when a tool is missing.
if (step('aws emulators', process.execPath, [resolve(root, 'scripts/test-aws.mjs')]) !== 0) failedSteps++;
const awsFile = resolve(results, 'jest-aws.json');
if (existsSync(awsFile)) {
  const j = JSON.parse(readFileSync(awsFile, 'utf8'));
  totals.passed += j.passed;
  totals.failed += j.failed;
  totals.skipped += j.skipped;
} else {
  totals.failed++;
}

const pyTests = readdirSync(resolve(root, 'test/python')).filter((f) => /^test_.*\.py$/.test(f));
if (pyTests.length > 0) {
  if (python) {
    const xml = resolve(results, 'pytest.xml');
    const code = step('pytest', python, ['-m', 'pytest', '-q', 'test/python', `--junitxml=${xml}`]);
    if (code !== 0 && code !== 5) failedSteps++;
    if (existsSync(xml)) {
      const head = readFileSync(xml, 'utf8').match(/<testsuite [^>]*>/)?.[0] ?? '';
      const attr = (k) => Number(head.match(new RegExp(`${k}="(\\d+)"`))?.[1] ?? 0);
      const failed = attr('failures') + attr('errors');
      totals.failed += failed;
      totals.skipped += attr('skipped');
      totals.passed += attr('tests') - failed - attr('skipped');
    }
  } else {
    totals.skipped += pyTests.length;
    console.error(`[python] SKIPPED pytest (${pyTests.length} files): no Python environment`);
  }
}

console.log(`\ntotal: ${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failedSteps > 0 || totals.failed > 0 ? 1 : 0);
