// Entry of a `credit-risk serve --workers N` worker process (node:cluster forks this file). Like
// bin/credit-risk.mjs: TypeScript through tsx, and the X-Ray SDK in manual mode (no async hooks)
// before anything loads it; the primary's environment already carries AWS_XRAY_MANUAL_MODE.
import { register } from 'tsx/esm/api';

register();
if (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) process.env.AWS_XRAY_MANUAL_MODE ??= '1';
const { runServeWorker } = await import('./serve-worker.ts');
await runServeWorker();
