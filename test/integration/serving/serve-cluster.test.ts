/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join, resolve } from 'node:path';
import { FsObjectStore } from '#lib/adapters/local/fs-object-store.ts';
import { PgliteFeatureStore } from '#lib/adapters/local/pglite-feature-store.ts';
import type { CustomerFeatureRow } from '#lib/features/online.ts';
import { ModelRegistry } from '#lib/registry/registry.ts';
import { freshHome } from '../../support/home.ts';
import { describeWithPython } from '../../support/python.ts';
import { writeFixtureModel } from './fixture-model.ts';

const repo = resolve(import.meta.dirname, '../../..');

function customer(id: string, nbLoans: number, jobStartDate: string | null): CustomerFeatureRow {
  return {
    id,
    snapshotId: 's1',
    nbLoans,
    sumLoanAmount: 100 * nbLoans,
    lastLoanDate: '2021-06-30',
    nbLoansBeforeLastDate: nbLoans - 1,
    sumLoanAmountBeforeLastDate: 100 * (nbLoans - 1),
    previousLoanDate: '2020-12-31',
    birthday: '1980-02-29',
    jobStartDate,
    flagOwnCar: 1,
    amtIncomeTotal: 112500.5,
  };
}

function artifacts(dir: string) {
  return {
    model: new Uint8Array(readFileSync(join(dir, 'model.onnx'))),
    card: readFileSync(join(dir, 'card.json'), 'utf8'),
    report: readFileSync(join(dir, 'report.html'), 'utf8'),
  };
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: any;
}

function call(agent: Agent, base: string, method: string, path: string, body?: string): Promise<Answer> {
  return new Promise((resolveCall, reject) => {
    const req = request(`${base}${path}`, { method, agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () =>
        resolveCall({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(text) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * One keep-alive connection: the cluster hands a connection to one worker, so /healthz (which
 * names the worker) and the prediction that follows on it are answered by the same process.
 */
async function onOneConnection(
  base: string,
  body: string,
): Promise<{ worker: number; health: any; answer: Answer }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const health = await call(agent, base, 'GET', '/healthz');
    const answer = await call(agent, base, 'POST', '/predict', body);
    return { worker: health.body.worker as number, health: health.body, answer };
  } finally {
    agent.destroy();
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

describeWithPython('credit-risk serve --workers 2 (node:cluster over real PGlite and ONNX)', (python) => {
  it('workers answer identically, follow alias changes, a dead worker is replaced, SIGTERM stops all', async () => {
    const home = freshHome('cr-cluster-');
    const store = new PgliteFeatureStore(home.pglite);
    await store.init();
    await store.replaceSnapshot('s1', [
      [customer('5008827', 4, '2010-01-15'), customer('5008828', 1, null), customer('5008829', 3, null)],
    ]);
    await store.close();
    const registry = new ModelRegistry(new FsObjectStore(home.store));
    const a = await registry.register(artifacts(writeFixtureModel(python, 0.5, 1)));
    const b = await registry.register(artifacts(writeFixtureModel(python, 0.5, 2)));
    await registry.promote(a.version);

    const child = spawn(
      process.execPath,
      [join(repo, 'bin/credit-risk.mjs'), 'serve', '--workers', '2', '--port', '0'],
      {
        cwd: repo,
        env: { ...process.env, CREDIT_RISK_HOME: home.root },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const base = await waitFor(
      'the listening line',
      async () => /listening on (http:\/\/[\d.:]+)/.exec(stderr)?.[1],
      60_000,
    );
    const firstPids = /\(2 workers (\d+) (\d+);/.exec(stderr)!.slice(1).map(Number);
    expect(new Set(firstPids).size).toBe(2);

    // Same ids, both workers (fresh connections are dealt round-robin): the same answers.
    for (const id of ['5008827', '5008828', '5008829']) {
      const byWorker = new Map<number, Answer>();
      for (let i = 0; i < 8; i++) {
        const r = await onOneConnection(base, JSON.stringify({ id }));
        byWorker.set(r.worker, r.answer);
        expect(r.answer.status).toBe(200);
        expect(r.answer.headers['x-model-version']).toBe(a.version);
      }
      expect(new Set(byWorker.keys())).toEqual(new Set(firstPids));
      const [one, two] = [...byWorker.values()];
      expect(two.body).toEqual(one.body);
      expect(one.body).toMatchObject({ id, modelVersion: a.version, featureSnapshot: 's1' });
    }
    // Each worker checks for itself: the store through its replica (which asks the primary's
    // store), the model through its own ONNX session.
    const healthByWorker = new Map<number, any>();
    for (let i = 0; i < 8; i++) {
      const r = await onOneConnection(base, '{"id":"5008827"}');
      healthByWorker.set(r.worker, r.health);
    }
    expect(new Set(healthByWorker.keys())).toEqual(new Set(firstPids));
    for (const [pid, h] of healthByWorker) {
      expect(h).toEqual({
        status: 'ok',
        champion: a.version,
        canary: null,
        worker: pid,
        // The code the worker runs: the primary's (the compiled build here when it is current).
        code: expect.stringMatching(/^(compiled|sources)$/),
        checks: {
          featureStore: { ok: true, ms: expect.any(Number), snapshotId: 's1' },
          model: { ok: true, ms: expect.any(Number), version: a.version },
        },
      });
    }
    const unknown = await onOneConnection(base, '{"id":"1"}');
    expect(unknown.answer).toMatchObject({ status: 404, body: { error: { code: 'UNKNOWN_CUSTOMER' } } });
    const bad = await onOneConnection(base, '{"id": 5008827}');
    expect(bad.answer).toMatchObject({ status: 400, body: { error: { code: 'INVALID_ID' } } });

    // An alias change reaches every worker (each polls the registry).
    await registry.promote(b.version);
    await waitFor('both workers on the new champion', async () => {
      const seen = new Map<number, string>();
      for (let i = 0; i < 6; i++) {
        const r = await onOneConnection(base, '{"id":"5008827"}');
        seen.set(r.worker, String(r.answer.headers['x-model-version']));
      }
      return seen.size === 2 && [...seen.values()].every((v) => v === b.version) ? true : undefined;
    });

    // A worker killed outright is replaced; the survivors and the replacement keep answering.
    process.kill(firstPids[0], 'SIGKILL');
    const replacement = Number(
      await waitFor(
        'a replacement worker',
        async () => new RegExp(`serve worker (\\d+) replaced ${firstPids[0]}`).exec(stderr)?.[1],
      ).catch((e: Error) => {
        throw new Error(`${e.message}; serve said:\n${stderr}`);
      }),
    );
    expect(firstPids).not.toContain(replacement);
    const after = new Map<number, Answer>();
    for (let i = 0; i < 8; i++) {
      const r = await onOneConnection(base, '{"id":"5008828"}');
      after.set(r.worker, r.answer);
    }
    expect(new Set(after.keys())).toEqual(new Set([firstPids[1], replacement]));
    const [x, y] = [...after.values()];
    expect(x.status).toBe(200);
    expect(y.body).toEqual(x.body);
    expect(x.body.modelVersion).toBe(b.version);

    // SIGTERM: the primary stops its workers and exits cleanly.
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of [firstPids[1], replacement]) {
      expect(() => process.kill(pid, 0)).toThrow();
    }
  }, 120_000);
});
