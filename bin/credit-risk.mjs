#!/usr/bin/env node
// The `credit-risk` command. TypeScript is loaded through tsx so the CLI runs the same sources the
// Lambda bundles are built from, with nothing to compile first.
import { register } from 'tsx/esm/api';

register();
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
// (Powertools Tracer) installs cls-hooked's async hooks, which made every await in
// `credit-risk serve` about 15x dearer (docs/adr/0020-local-serving-avoids-lambda-library-overheads.md). Manual mode loads it without
// them; it must be set before the first import of the SDK.
if (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) process.env.AWS_XRAY_MANUAL_MODE ??= '1';
const { main } = await import('../local/cli.ts');
// main's return value is the exit code (local/cli.ts lists them): commands report a failed run by
// throwing, so main knows it. A non-zero code set elsewhere on the way is kept, never made a 0.
const code = await main(process.argv);
process.exitCode = code !== 0 ? code : (process.exitCode ?? 0);
