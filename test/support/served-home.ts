import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { LocalHome } from '#local/home.ts';
import { freshHome } from './home.ts';

/**
 * A local home the way a user gets it, through the CLI only: generated loans, a built and
 * published snapshot, and trained, registered models with the first one champion. The hostile
 * suites (test/e2e/hostile-*.test.ts) start `credit-risk serve` on it as a child process.
 */
export const REPO = resolve(import.meta.dirname, '../..');
export const BIN = join(REPO, 'bin/credit-risk.mjs');

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface ServedHome {
  home: LocalHome;
  env: NodeJS.ProcessEnv;
  /** The loans CSV the snapshot was built from. */
  csv: string;
  /** The built (and published) snapshot directory and its id. */
  snapshotDir: string;
  snapshotId: string;
  /** Registered versions: [champion, others...]. */
  versions: string[];
  /** Customer ids that are in the published snapshot. */
  knownIds: string[];
  cli(...args: string[]): CliResult;
  ok(...args: string[]): string;
}

export function prepareServedHome(
  prefix: string,
  options: { rows?: number; models?: number } = {},
): ServedHome {
  const home = freshHome(prefix);
  const env: NodeJS.ProcessEnv = { ...process.env, CREDIT_RISK_HOME: home.root };
  const cli = (...args: string[]): CliResult => {
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: REPO,
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const ok = (...args: string[]): string => {
    const r = cli(...args);
    if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
    return r.stdout;
  };
  const csv = join(home.data, 'loans.csv');
  ok('data', 'generate', '--rows', String(options.rows ?? 2000), '--seed', '3', '--out', csv);
  const snapshotDir = join(home.data, 'snap');
  ok('features', 'build', '--input', csv, '--out', snapshotDir);
  ok('features', 'publish', '--snapshot', snapshotDir);
  const snapshotId = (
    JSON.parse(readFileSync(join(snapshotDir, 'manifest.json'), 'utf8')) as { snapshotId: string }
  ).snapshotId;
  const versions: string[] = [];
  for (let i = 0; i < (options.models ?? 1); i++) {
    const model = join(home.data, `model-${i}`);
    // Another tree count is another model, hence another content-addressed version.
    ok(
      'train',
      '--input',
      join(snapshotDir, 'features.parquet'),
      '--out',
      model,
      '--trees',
      String(10 + i),
      '--json',
    );
    versions.push((JSON.parse(ok('models', 'register', model, '--json')) as { version: string }).version);
  }
  ok('models', 'promote', versions[0]);
  const lines = readFileSync(csv, 'utf8').split('\n');
  const idColumn = lines[0].split(',').indexOf('id');
  const knownIds = [
    ...new Set(
      lines
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(',')[idColumn]),
    ),
  ].slice(0, 200);
  return { home, env, csv, snapshotDir, snapshotId, versions, knownIds, cli, ok };
}

export interface ServeProcess {
  proc: ChildProcess;
  base: string;
  port: number;
  stderr: () => string;
  stop(): Promise<number | null>;
}

export const exited = (p: ChildProcess): Promise<number | null> =>
  new Promise((r) =>
    p.exitCode !== null || p.signalCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c)),
  );

/**
 * `credit-risk serve --port 0` as a child; resolves once it says where it listens. `workers`:
 * a count, or 'default' for serve's own default (what `npm start` runs).
 */
export async function startServeProcess(
  env: NodeJS.ProcessEnv,
  workers: number | 'default' = 1,
): Promise<ServeProcess> {
  const workerArgs = workers === 'default' ? [] : ['--workers', String(workers)];
  const proc = spawn(process.execPath, [BIN, 'serve', ...workerArgs, '--port', '0'], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 90_000;
  for (;;) {
    const m = /listening on (http:\/\/[\d.]+:(\d+))/.exec(stderr);
    if (m)
      return {
        proc,
        base: m[1],
        port: Number(m[2]),
        stderr: () => stderr,
        async stop() {
          if (proc.exitCode !== null) return proc.exitCode;
          proc.kill('SIGTERM');
          return exited(proc);
        },
      };
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`serve did not start (exit ${proc.exitCode}):\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * The schemathesis CLI beside the project's Python (.venv/bin/st), or undefined. Same rule as
 * describeWithPython: with CI=true a missing tool fails the suite, elsewhere it is a loud skip.
 */
export function schemathesisPath(python: string | undefined): string | undefined {
  if (!python) return undefined;
  const st = join(dirname(python), 'st');
  return existsSync(st) ? st : undefined;
}
