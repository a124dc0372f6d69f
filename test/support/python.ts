import { describe, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * The project's Python (.venv from requirements-dev.txt), as set by scripts/test.mjs, or the
 * .venv in the checkout when a developer runs jest directly. undefined when there is none.
 */
export function pythonPath(): string | undefined {
  const fromEnv = process.env.CREDIT_RISK_PYTHON;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  const local = resolve('.venv/bin/python');
  return existsSync(local) ? local : undefined;
}

/**
 * describe() for tests that need Python. Without Python: with CI=true the suite FAILS (a missing
 * tool is never a skip in CI); otherwise it is skipped with a loud warning.
 */
export function describeWithPython(name: string, fn: (python: string) => void): void {
  const py = pythonPath();
  if (py) {
    describe(name, () => fn(py));
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the Python tools it needs', () => {
        throw new Error(
          'no Python .venv (requirements-dev.txt); with CI=true this fails instead of skipping',
        );
      });
    });
    return;
  }
  console.warn(`!!! SKIPPING "${name}": no Python .venv; run \`node scripts/python-env.mjs\` to build it`);
  describe.skip(name, () => fn('python-missing'));
}
