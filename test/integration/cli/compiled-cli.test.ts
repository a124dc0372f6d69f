import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, utimesSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * The compiled CLI (scripts/build-cli.mjs -> dist/cli) runs only while it was built from exactly
 * the sources on disk; an edited source falls back to the sources through tsx, and both print the
 * same thing. `--version` answers from package.json alone.
 */
const repo = resolve(import.meta.dirname, '../../..');
const BIN = join(repo, 'bin/credit-risk.mjs');

function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: repo,
    env: { ...process.env, CREDIT_RISK_CLI_TRACE: '1', ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the compiled CLI', () => {
  it('is used when current, not when a source changed, and prints the same help', () => {
    const build = spawnSync(process.execPath, [join(repo, 'scripts/build-cli.mjs'), '--quiet'], {
      cwd: repo,
    });
    expect(build.status).toBe(0);
    const compiled = cli(['--help']);
    expect(compiled.status).toBe(0);
    expect(compiled.stderr).toContain('[cli] compiled dist/cli');

    const fromSource = cli(['--help'], { CREDIT_RISK_FROM_SOURCE: '1' });
    expect(fromSource.stderr).toContain('[cli] sources through tsx');
    expect(fromSource.stdout).toBe(compiled.stdout);

    // An edited source (a new modification time) makes the build stale until it is rebuilt.
    const source = join(repo, 'lib/errors.ts');
    const before = statSync(source);
    try {
      utimesSync(source, before.atime, new Date(before.mtimeMs + 5_000));
      expect(cli(['--help']).stderr).toContain('[cli] sources through tsx');
    } finally {
      utimesSync(source, before.atime, before.mtime);
    }
    // Setting a time back through seconds as a double can land a millisecond off the original
    // (what the build recorded), so the build script decides: it leaves a current build alone and
    // rebuilds a stale one; either way the compiled CLI is used again.
    expect(
      spawnSync(process.execPath, [join(repo, 'scripts/build-cli.mjs'), '--quiet'], { cwd: repo }).status,
    ).toBe(0);
    expect(cli(['--help']).stderr).toContain('[cli] compiled dist/cli');

    // A command's own help through the compiled build is the same as from the sources.
    const features = cli(['features', 'get', '--help']);
    expect(features.status).toBe(0);
    expect(features.stdout).toBe(cli(['features', 'get', '--help'], { CREDIT_RISK_FROM_SOURCE: '1' }).stdout);
  }, 120_000);

  it('--version prints the package version without loading the program', () => {
    const { version } = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string };
    const r = cli(['--version']);
    expect(r).toMatchObject({ status: 0, stdout: `${version}\n` });
    expect(r.stderr).not.toContain('[cli]');
  });
});
