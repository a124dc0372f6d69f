#!/usr/bin/env node
// `npm run test:aws`: the AWS adapters against AWS API emulators (scripts/aws-emulators.mjs): start
// moto, PostgreSQL and data-api-local on free loopback ports, run the jest project `aws`
// (test/aws), stop everything it started, even on failure or Ctrl-C. Extra arguments go to jest
// (e.g. a test path). A missing tool skips loudly outside CI and fails with CI=true. Writes its
// totals to .test-results/jest-aws.json for scripts/test.mjs.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startEmulators } from './aws-emulators.mjs';
import { ensureAwsEmulatorVenv } from './python-env.mjs';

const root = resolve(import.meta.dirname, '..');
const results = resolve(root, '.test-results');
const summaryName = 'jest-aws.json';
mkdirSync(results, { recursive: true });
const t0 = Date.now();

function suiteFiles(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? suiteFiles(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [e.name] : [],
  );
}

function writeSummary(summary) {
  writeFileSync(join(results, summaryName), JSON.stringify(summary));
}

const venvBin = ensureAwsEmulatorVenv();
let emulators;
try {
  emulators = await startEmulators({ venvBin });
} catch (e) {
  console.error(`[aws] FAILED to start the emulators: ${e.message}`);
  writeSummary({ passed: 0, failed: 1, skipped: 0 });
  process.exit(1);
}
if (emulators.missing.length > 0) {
  const what = emulators.missing.map((m) => `  - ${m}`).join('\n');
  if (process.env.CI === 'true') {
    console.error(`[aws] FAILED: missing\n${what}\nWith CI=true a missing tool is a failure, not a skip.`);
    writeSummary({ passed: 0, failed: 1, skipped: 0 });
    process.exit(1);
  }
  const bar = '!'.repeat(100);
  const files = suiteFiles(resolve(root, 'test/aws')).length;
  console.error(
    `\n${bar}\n[aws] WARNING: the AWS emulator suites (${files} files in test/aws) are SKIPPED; missing:\n${what}\n${bar}\n`,
  );
  writeSummary({ passed: 0, failed: 0, skipped: files });
  process.exit(0);
}
const startup = emulators.seconds;
console.log(`[aws] emulators up in ${startup.toFixed(1)} s`);

let stopping;
const stop = () => (stopping ??= emulators.stop());
let jest;
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
]) {
  process.on(signal, async () => {
    console.error(`[aws] ${signal}: stopping jest and the emulators`);
    // jest runs in a process group of its own (scripts/jest.mjs and the jest it spawns): end it whole.
    if (jest?.pid && jest.exitCode === null) {
      try {
        process.kill(-jest.pid, signal);
      } catch {
        // already gone
      }
    }
    await stop();
    process.exit(code);
  });
}

// --runInBand: moto's Lambda answers invokes from one queue per region, which the suites fill in
// order; two suites at once would take each other's answers.
const t1 = Date.now();
const status = await new Promise((done) => {
  jest = spawn(
    process.execPath,
    [resolve(root, 'scripts/jest.mjs'), '--runInBand', '--selectProjects', 'aws', ...process.argv.slice(2)],
    {
      cwd: root,
      stdio: 'inherit',
      detached: true,
      env: { ...process.env, ...emulators.env, CREDIT_RISK_JEST_SUMMARY: summaryName },
    },
  );
  jest.on('exit', (code, signal) => done(code ?? (signal ? 1 : 0)));
});
await stop();
const suite = (Date.now() - t1) / 1000;
console.log(
  `[aws] emulator start-up ${startup.toFixed(1)} s, suites ${suite.toFixed(1)} s, whole run ${((Date.now() - t0) / 1000).toFixed(1)} s`,
);
process.exit(status);
