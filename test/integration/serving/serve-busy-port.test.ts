/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';
import { writeFixtureModel } from './fixture-model.ts';

/**
 * `credit-risk serve` on a port that is taken: one line, exit 2, nothing left running, with one
 * process and with workers. Real CLI processes in a fresh home with a served champion.
 */

const repo = resolve(import.meta.dirname, '../../..');
const CLI = join(repo, 'bin/credit-risk.mjs');

function customer(id: string): CustomerFeatureRow {
  return {
    id,
    snapshotId: 's1',
    nbLoans: 4,
    sumLoanAmount: 400,
    lastLoanDate: '2021-06-30',
    nbLoansBeforeLastDate: 3,
    sumLoanAmountBeforeLastDate: 300,
    previousLoanDate: '2020-12-31',
    birthday: '1980-02-29',
    jobStartDate: '2010-01-15',
    flagOwnCar: 1,
    amtIncomeTotal: 112500.5,
  };
}

interface Ended {
  code: number | null;
  stdout: string;
  stderr: string;
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Runs a process to its end; fails the test if it has not ended within `timeoutMs` (a hang). */
function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000): Promise<Ended> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, args, { cwd: repo, env: { ...process.env, ...env } });
    children.push(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} still running after ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
  });
}

async function holdPort(): Promise<{ server: Server; port: number }> {
  const server = createNetServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

describeWithPython('credit-risk serve on a busy port', (python) => {
  it('says so in one line and exits 2, with 1 and 2 workers; the cluster stops its workers', async () => {
    const home = freshHome('cr-busy-');
    const store = new PgliteFeatureStore(home.pglite);
    await store.init();
    await store.replaceSnapshot('s1', [[customer('5008827')]]);
    await store.close();
    const dir = writeFixtureModel(python, 0.5, 1);
    const registry = new ModelRegistry(new FsObjectStore(home.store));
    const { version } = await registry.register({
      model: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
      card: readFileSync(join(dir, 'card.json'), 'utf8'),
      report: readFileSync(join(dir, 'report.html'), 'utf8'),
    });
    await registry.promote(version);
    const env = { CREDIT_RISK_HOME: home.root };

    // The primary's own path, past the CLI's early check: its workers' listen fails, each says so,
    // and the primary turns that into PORT_IN_USE, stops the workers and lets the process end.
    const held = await holdPort();
    const url = (p: string) => pathToFileURL(join(repo, p)).href;
    // A file, not `node -e`: the cluster forks its workers with this process's execArgv.
    const script = join(home.tmp, 'cluster-on-busy-port.mjs');
    writeFileSync(
      script,
      `import { register } from ${JSON.stringify(url('node_modules/tsx/dist/esm/api/index.mjs'))};
register();
process.env.AWS_XRAY_MANUAL_MODE ??= '1';
const cluster = (await import('node:cluster')).default;
const { startClusterServe } = await import(${JSON.stringify(url('local/server/cluster.ts'))});
const { PgliteFeatureStore } = await import(${JSON.stringify(url('lib/adapters/local/pglite-feature-store.ts'))});
const { createLocalRoot } = await import(${JSON.stringify(url('local/root.ts'))});
const featureStore = new PgliteFeatureStore(${JSON.stringify(home.pglite)});
try {
  await startClusterServe({ root: createLocalRoot(), featureStore, modelName: 'credit-risk', workers: 2, port: ${held.port} });
  console.log(JSON.stringify({ started: true }));
} catch (e) {
  console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message, workersLeft: Object.keys(cluster.workers ?? {}).length }));
} finally {
  await featureStore.close();
}
`,
    );
    try {
      const viaWorkers = await run([script], env);
      if (viaWorkers.code !== 0) throw new Error(viaWorkers.stderr);
      expect(viaWorkers.code).toBe(0);
      expect(JSON.parse(viaWorkers.stdout)).toEqual({
        name: 'InputError',
        code: 'PORT_IN_USE',
        message: `port ${held.port} on 127.0.0.1 is in use (another credit-risk serve?): stop it or pick another with --port / PORT`,
        workersLeft: 0,
      });
    } finally {
      held.server.close();
    }

    // The user's case: a second serve while the first one runs.
    const first = spawn(process.execPath, [CLI, 'serve', '--workers', '1', '--port', '0'], {
      cwd: repo,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(first);
    let firstErr = '';
    first.stderr!.on('data', (d: Buffer) => (firstErr += d.toString()));
    const port = await new Promise<number>((resolvePort, reject) => {
      const timer = setTimeout(() => reject(new Error(`first serve did not listen:\n${firstErr}`)), 60_000);
      first.stderr!.on('data', () => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(firstErr);
        if (m) {
          clearTimeout(timer);
          resolvePort(Number(m[1]));
        }
      });
    });
    const line = `error [PORT_IN_USE]: port ${port} on 127.0.0.1 is in use (another credit-risk serve?): stop it or pick another with --port / PORT\n`;
    for (const workers of ['1', '2']) {
      const second = await run([CLI, 'serve', '--workers', workers, '--port', String(port)], env, 30_000);
      expect({ workers, ...second }).toEqual({ workers, code: 2, stdout: '', stderr: line });
    }
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).toBe(200);

    const exited = new Promise<number | null>((r) => first.once('exit', (code) => r(code)));
    first.kill('SIGTERM');
    expect(await exited).toBe(0);
  }, 240_000);
});
