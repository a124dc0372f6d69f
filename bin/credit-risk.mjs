#!/usr/bin/env node
// The `credit-risk` command. It runs the compiled CLI in dist/cli/ (scripts/build-cli.mjs, run by
// npm on install) when that build is current, else the TypeScript sources through tsx: the same
// code either way, and an edited source is never shadowed by a stale build
// (docs/adr/0160-compiled-cli.md). CREDIT_RISK_FROM_SOURCE=1 forces the sources.
import { readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);

// `--version` needs nothing but package.json.
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  process.stdout.write(`${version}\n`);
  process.exit(0);
}

// A reader that stops early (`credit-risk train --help | head`) closes the pipe: the reader's
// choice, not a failure here. Exit quietly, as a C tool killed by SIGPIPE would, rather than die
// on an unhandled EPIPE with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}
// The local CLI never traces (the Tracer is off outside Lambda), but merely loading the X-Ray SDK
// (Powertools Tracer) installs cls-hooked's async hooks, which made every await in `credit-risk
// serve` about 15x dearer (docs/adr/0020-local-serving-avoids-lambda-library-overheads.md). Manual
// mode loads it without them; it must be set before the first import of the SDK.
if (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) process.env.AWS_XRAY_MANUAL_MODE ??= '1';

/** dist/cli/cli.mjs when it was built from exactly the sources on disk (size and mtime of each). */
function currentBuild() {
  if (process.env.CREDIT_RISK_FROM_SOURCE === '1') return undefined;
  try {
    const { inputs } = JSON.parse(readFileSync(join(root, 'dist/cli/inputs.json'), 'utf8'));
    for (const [path, size, mtime] of inputs) {
      const s = statSync(join(root, path));
      if (s.size !== size || Math.trunc(s.mtimeMs) !== mtime) return undefined;
    }
    return join(root, 'dist/cli/cli.mjs');
  } catch {
    return undefined;
  }
}

const built = currentBuild();
// CREDIT_RISK_CLI_TRACE=1: say on stderr which code runs (tests and benchmarks check it).
if (process.env.CREDIT_RISK_CLI_TRACE === '1')
  process.stderr.write(`[cli] ${built ? 'compiled dist/cli' : 'sources through tsx'}\n`);
let main;
if (built) {
  ({ main } = await import(built));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../local/cli.ts'));
}
// main's return value is the exit code (local/cli.ts lists them): commands report a failed run by
// throwing, so main knows it. A non-zero code set elsewhere on the way is kept, never made a 0.
const code = await main(process.argv);
process.exitCode = code !== 0 ? code : (process.exitCode ?? 0);
