/**
 * `npm run package:aws -- --stage <stage> [--strict] [osls options]`: builds the function zips
 * (infra/bundle-functions.ts), then `osls package`. Offline: it makes no AWS call, so it runs in
 * `npm test` with fake credentials and writes .serverless/cloudformation-template-update-stack.json
 * (or the directory given with --package).
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { bundleAll } from './bundle-functions.ts';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const strict = args.includes('--strict');
const oslsArgs = args.filter((a) => a !== '--strict');
if (!oslsArgs.includes('--stage')) oslsArgs.push('--stage', 'test');

const t0 = Date.now();
const bundles = await bundleAll({ strict });
const stubs = bundles.filter((b) => b.stub).map((b) => b.dir);
console.error(
  `[package] ${bundles.length} function zips in ${((Date.now() - t0) / 1000).toFixed(1)} s` +
    (stubs.length ? `; STUBS (handler.ts missing): ${stubs.join(', ')}` : ''),
);
const t1 = Date.now();
const r = spawnSync(
  process.execPath,
  [resolve(root, 'node_modules/osls/bin/serverless.js'), 'package', ...oslsArgs],
  {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, SLS_TELEMETRY_DISABLED: '1' },
  },
);
console.error(`[package] osls package in ${((Date.now() - t1) / 1000).toFixed(1)} s (exit ${r.status})`);
if (stubs.length) console.error(`[package] STUBS=${stubs.join(',')}`);
process.exit(r.status ?? 1);
