// Imported FIRST by bench/serve/index.ts: like the local CLI (bin/credit-risk.mjs), the bench does
// not trace, and loading the X-Ray SDK outside manual mode installs cls-hooked's async hooks on
// every promise. In Lambda with active tracing they are on; docs/adr/0020-local-serving-avoids-lambda-library-overheads.md says what they cost.
if (process.env.AWS_LAMBDA_FUNCTION_NAME === undefined) process.env.AWS_XRAY_MANUAL_MODE ??= '1';
export {};
