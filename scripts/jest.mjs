#!/usr/bin/env node
// Runs jest with Node's ESM loader for vm modules (our sources and most deps are ESM).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const jestBin = require.resolve('jest/bin/jest');

// The tests' temporary files (every mkdtemp under os.tmpdir(), PGlite's owner sockets, the files
// of the processes they start) go into one directory per run, TMPDIR for jest and its children,
// removed when jest ends: a whole `npm test` used to leave ~330 directories in the system's temp
// directory. CREDIT_RISK_KEEP_TEST_TMP=1 keeps it, to look at a failed test's files.
const runTmp = mkdtempSync(join(tmpdir(), 'cr-test-run-'));
// Ctrl-C or a SIGTERM to the process group reaches jest too: clean up once it has ended.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => {});
const r = spawnSync(
  process.execPath,
  [
    '--experimental-vm-modules',
    '--no-warnings=ExperimentalWarning',
    jestBin,
    ...projectsLast(process.argv.slice(2)),
  ],
  { stdio: 'inherit', env: { ...process.env, TMPDIR: runTmp } },
);
if (process.env.CREDIT_RISK_KEEP_TEST_TMP === '1') {
  console.error(`[jest] the run's temporary files are kept in ${runTmp}`);
} else {
  rmSync(runTmp, { recursive: true, force: true, maxRetries: 3 });
}
process.exit(r.status ?? 1);

/**
 * Without --selectProjects: unit, integration and e2e. The `aws` project needs the emulators that
 * `npm run test:aws` (scripts/test-aws.mjs) starts, and is run by it.
 *
 * jest's --selectProjects takes several values, so in `--selectProjects unit test/unit/x` the path
 * would be read as a second project name and the whole project would run. Move the flag and its
 * project names to the end, so `npm run test:unit -- test/unit/x` runs what it says.
 */
function projectsLast(args) {
  const projects = new Set(['unit', 'integration', 'e2e', 'aws']);
  const rest = [];
  const selected = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] !== '--selectProjects') {
      rest.push(args[i]);
      continue;
    }
    while (i + 1 < args.length && projects.has(args[i + 1])) selected.push(args[++i]);
  }
  return [...rest, '--selectProjects', ...(selected.length > 0 ? selected : ['unit', 'integration', 'e2e'])];
}
