// Entry of a `credit-risk serve --workers N` worker process (local/server/cluster.ts forks it):
// compiled to dist/cli/serve-worker.mjs by scripts/build-cli.mjs, or loaded through tsx by
// serve-worker.mjs. Like bin/credit-risk.mjs, the X-Ray SDK goes in manual mode (no async hooks)
// before anything loads it; the primary's environment already carries AWS_XRAY_MANUAL_MODE.
if (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) process.env.AWS_XRAY_MANUAL_MODE ??= '1';
const { runServeWorker } = await import('./serve-worker.ts');
await runServeWorker();
