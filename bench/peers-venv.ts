import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');

/**
 * The python of .venv-peers (requirements-peers.txt: the benches' current peers at their latest
 * releases, on numpy 2, which requirements-dev.txt's numpy 1.26 pin excludes): built on first use
 * by scripts/python-env.mjs, never by npm test. Only that venv: the shared .venv is npm test's to
 * build (a bench must not reinstall it).
 */
export function peersPython(): string {
  const r = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const m = await import(${JSON.stringify(join(root, 'scripts/python-env.mjs'))}); console.log(m.ensurePeersVenv() ?? '');`,
    ],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const bin = r.stdout.trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !bin || !existsSync(join(bin, 'python')))
    throw new Error('.venv-peers (requirements-peers.txt) could not be built');
  return join(bin, 'python');
}
