// The Python side of the test suite: a project-local .venv built from requirements-dev.txt.
// ensurePython() returns the interpreter path, or null when it could not be built; with CI=true a
// missing tool is an error (never a skip).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const venv = resolve(root, '.venv');
const python = resolve(venv, 'bin/python');
const stamp = resolve(venv, '.requirements.sha256');
const requirements = resolve(root, 'requirements-dev.txt');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  return r.status === 0;
}

export function ensurePython({ quiet = false } = {}) {
  const want = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  if (existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want) return python;
  const base = process.env.PYTHON ?? 'python3';
  if (!quiet)
    console.log(
      `[python] building .venv from requirements-dev.txt with ${base} (first run takes a few minutes)`,
    );
  const ok =
    (existsSync(python) || run(base, ['-m', 'venv', venv])) &&
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', requirements]);
  if (!ok) return null;
  writeFileSync(stamp, want);
  return python;
}

export function requirePythonOrExplain() {
  const py = ensurePython();
  if (py) return py;
  const msg =
    'the Python tools (.venv from requirements-dev.txt: pyspark, pandas, pyarrow, onnx, ...) could not be installed';
  if (process.env.CI === 'true') {
    console.error(`[python] FAILED: ${msg}; with CI=true this is a failure, not a skip.`);
    process.exit(1);
  }
  const bar = '!'.repeat(100);
  console.error(
    `\n${bar}\n[python] WARNING: ${msg}.\n[python] Every test that needs Python (Spark parity, ONNX checker, cfn-lint, peers) will be SKIPPED.\n${bar}\n`,
  );
  return null;
}

// A second, named venv from its own requirements file (e.g. .venv-scan from requirements-scan.txt:
// checkov pins packages that would conflict with requirements-dev.txt). Same stamp-and-rebuild rule
// as ensurePython(); returns the venv's bin directory, or null when it could not be built.
export function ensureVenv(name, requirementsFile, { quiet = false } = {}) {
  const dir = resolve(root, name);
  const py = resolve(dir, 'bin/python');
  const reqs = resolve(root, requirementsFile);
  const stampFile = resolve(dir, '.requirements.sha256');
  const want = createHash('sha256').update(readFileSync(reqs)).digest('hex');
  if (existsSync(py) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === want)
    return resolve(dir, 'bin');
  const base = process.env.PYTHON ?? 'python3';
  if (!quiet) console.log(`[python] building ${name} from ${requirementsFile} with ${base}`);
  const ok =
    (existsSync(py) || run(base, ['-m', 'venv', dir])) &&
    run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', reqs]);
  if (!ok) return null;
  writeFileSync(stampFile, want);
  return resolve(dir, 'bin');
}

/** The IaC scanners (checkov, cfn-lint) in .venv-scan; with CI=true a failure to build them exits 1. */
export function requireScanToolsOrExplain() {
  const bin = ensureVenv('.venv-scan', 'requirements-scan.txt');
  if (bin) return bin;
  const msg =
    'the IaC scanners (.venv-scan from requirements-scan.txt: checkov, cfn-lint) could not be installed';
  if (process.env.CI === 'true') {
    console.error(`[python] FAILED: ${msg}; with CI=true this is a failure, not a skip.`);
    process.exit(1);
  }
  console.error(`[python] WARNING: ${msg}; the template scans in test/integration/infra will be SKIPPED.`);
  return null;
}

/**
 * moto's server (.venv-aws from requirements-aws.txt) for `npm run test:aws`; the bin directory,
 * or null when it could not be built (scripts/test-aws.mjs decides between skip and failure).
 */
export function ensureAwsEmulatorVenv() {
  return ensureVenv('.venv-aws', 'requirements-aws.txt');
}

/**
 * The benches' peers at their latest releases (.venv-peers from requirements-peers.txt: the
 * features bench's Polars and pandas 3, the serve bench's scikit-learn, Flask, gunicorn,
 * Starlette, uvicorn and onnxruntime, on numpy 2, which requirements-dev.txt's numpy 1.26 pin
 * excludes). Built by the bench runners only (`npm run bench -- features|serve`), never by
 * `npm test`; the bin directory or null.
 */
export function ensurePeersVenv() {
  return ensureVenv('.venv-peers', 'requirements-peers.txt');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const py = requirePythonOrExplain();
  if (py) console.log(py);
  if (process.argv.includes('--scan')) {
    const bin = requireScanToolsOrExplain();
    if (bin) console.log(bin);
  }
  if (process.argv.includes('--aws')) {
    const bin = ensureAwsEmulatorVenv();
    if (!bin) {
      console.error('[python] FAILED: .venv-aws (requirements-aws.txt: moto) could not be built');
      process.exit(1);
    }
    console.log(bin);
  }
  if (process.argv.includes('--peers')) {
    const bin = ensurePeersVenv();
    if (!bin) {
      console.error(
        "[python] FAILED: .venv-peers (requirements-peers.txt: the benches' peers) could not be built",
      );
      process.exit(1);
    }
    console.log(bin);
  }
}
