/**
 * Replaces `process.env` with a plain-object copy of it, for the serving processes of
 * `credit-risk serve` only (its CLI action and each cluster worker, never library code).
 *
 * Why: `process.env` is a C++ interceptor; each read is a getenv-backed lookup, about 1 us.
 * Powertools reads `AWS_LAMBDA_MAX_CONCURRENCY` from it in every metric, dimension and log call
 * (commons envUtils.shouldUseInvokeStore, on each scoped-store get/set/reset) and `_X_AMZN_TRACE_ID`
 * per log line: a visible share of a busy serve process's CPU
 * (docs/adr/0020-local-serving-avoids-lambda-library-overheads.md). A plain object gives the same values at the cost of
 * a property load. Consequence, acceptable for a server that sets no variables after start:
 * later writes stay in this process's object (child processes spawned without an explicit env
 * still get them, native code calling getenv does not).
 */
export function snapshotProcessEnv(): void {
  process.env = { ...process.env };
}
