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
  if (!quiet) console.log(`[python] building .venv from requirements-dev.txt with ${base} (first run takes a few minutes)`);
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
  const msg = 'the Python tools (.venv from requirements-dev.txt: pyspark, pandas, pyarrow, onnx, ...) could not be installed';
  if (process.env.CI === 'true') {
    console.error(`[python] FAILED: ${msg}; with CI=true this is a failure, not a skip.`);
    process.exit(1);
  }
  const bar = '!'.repeat(100);
  console.error(`\n${bar}\n[python] WARNING: ${msg}.\n[python] Every test that needs Python (Spark parity, ONNX checker, cfn-lint, peers) will be SKIPPED.\n${bar}\n`);
  return null;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const py = requirePythonOrExplain();
  if (py) console.log(py);
}
