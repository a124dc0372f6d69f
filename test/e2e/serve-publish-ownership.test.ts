/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { join, resolve } from 'node:path';
import type { LocalHome } from '#local/home.ts';
import { freshHome } from '../support/home.ts';

/**
 * The acceptance test of "one owner for the online store" (issue 15): `features publish` in one
 * process while `credit-risk serve` answers under load in another, then serve stopped with
 * SIGINT or SIGTERM and started again. Every answer is a 200 (no 5xx, no 404 for a known id),
 * serve picks the new snapshot up within its staleness bound, and after the stop the store is
 * whole: the restarted serve answers from the new snapshot, and the online and offline pointers
 * agree. With 1 worker (the serve process owns PGlite and answers) and 2 (the primary owns it).
 */
const repo = resolve(import.meta.dirname, '../..');
const BIN = join(repo, 'bin/credit-risk.mjs');
const GATE_FREE = ['--json'];
let home: LocalHome;
let env: NodeJS.ProcessEnv;
const children: ChildProcess[] = [];

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: repo, env, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(...args: string[]): string {
  const r = cli(...args);
  if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

interface Serve {
  proc: ChildProcess;
  base: string;
  stderr: () => string;
}

async function startServe(workers: number): Promise<Serve> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--workers', String(workers), '--port', '0'], {
    cwd: repo,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 90_000;
  for (;;) {
    const m = /listening on (http:\/\/[\d.:]+)/.exec(stderr);
    if (m) return { proc, base: m[1], stderr: () => stderr };
    if (proc.exitCode !== null || Date.now() > deadline)
      throw new Error(`serve did not start (exit ${proc.exitCode}):\n${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const exited = (p: ChildProcess) =>
  new Promise<number | null>((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', (c) => r(c))));

function predict(agent: Agent, base: string, id: string): Promise<{ status: number; snapshot?: string }> {
  return new Promise((resolvePredict, reject) => {
    const req = request(`${base}/predict`, { method: 'POST', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        const body = JSON.parse(text) as { featureSnapshot?: string };
        resolvePredict({ status: res.statusCode ?? 0, snapshot: body.featureSnapshot });
      });
    });
    req.on('error', reject);
    req.end(JSON.stringify({ id }));
  });
}

/** Requests on 4 keep-alive connections until stopped; every answer's status and snapshot kept. */
function load(base: string, ids: string[]) {
  const answers: Array<{ status: number; snapshot?: string; at: number }> = [];
  let running = true;
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  const loops = Array.from({ length: 4 }, async (_, k) => {
    for (let i = k; running; i += 4) {
      const a = await predict(agent, base, ids[i % ids.length]);
      answers.push({ ...a, at: Date.now() });
    }
  });
  return {
    answers,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

function snapshotIdOf(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { snapshotId: string }).snapshotId;
}

let dirA: string;
let dirB: string;
let idA: string;
let idB: string;
let knownIds: string[];

beforeAll(() => {
  home = freshHome('cr-e2e-owner-');
  env = { ...process.env, CREDIT_RISK_HOME: home.root };
  const csv = join(home.data, 'loans.csv');
  ok('data', 'generate', '--rows', '6000', '--seed', '3', '--out', csv);
  // A: the first 4,500 loans; B: all 6,000 (the customers of A are in B too).
  const lines = readFileSync(csv, 'utf8').split('\n');
  writeFileSync(join(home.data, 'a.csv'), lines.slice(0, 4501).join('\n') + '\n');
  dirA = join(home.data, 'snap-a');
  dirB = join(home.data, 'snap-b');
  ok('features', 'build', '--input', join(home.data, 'a.csv'), '--out', dirA);
  ok('features', 'build', '--input', csv, '--out', dirB);
  idA = snapshotIdOf(dirA);
  idB = snapshotIdOf(dirB);
  expect(idA).not.toBe(idB);
  ok('features', 'publish', '--snapshot', dirA);
  const model = join(home.data, 'model');
  ok('train', '--input', join(dirA, 'features.parquet'), '--out', model, '--trees', '20', ...GATE_FREE);
  const registered = JSON.parse(ok('models', 'register', model, '--json')) as { version: string };
  ok('models', 'promote', registered.version);
  // Customer ids of A (all of them are in B): the first column of the raw rows.
  const header = lines[0].split(',');
  const idColumn = header.indexOf('id');
  knownIds = [...new Set(lines.slice(1, 4501).map((l) => l.split(',')[idColumn]))].slice(0, 200);
}, 240_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Publishes DIR from another process while serve answers; returns when serve answers from it. */
async function publishUnderLoad(serve: Serve, dir: string, expected: string): Promise<void> {
  const traffic = load(serve.base, knownIds);
  await new Promise((r) => setTimeout(r, 500));
  const publisher = spawn(process.execPath, [BIN, 'features', 'publish', '--snapshot', dir], {
    cwd: repo,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(publisher);
  let publishErr = '';
  publisher.stderr!.on('data', (d: Buffer) => (publishErr += d.toString()));
  const code = await exited(publisher);
  const publishedAt = Date.now();
  expect({ code, publishErr }).toMatchObject({ code: 0 });
  // The publish went through serve's process, which owns the store.
  expect(publishErr).toMatch(/online store.*(owned by|open in) .*pid \d+/);
  const deadline = publishedAt + 10_000;
  while (!traffic.answers.some((a) => a.at > publishedAt && a.snapshot === expected)) {
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => setTimeout(r, 500));
  await traffic.stop();
  const after = traffic.answers.filter((a) => a.at > publishedAt);
  expect(traffic.answers.length).toBeGreaterThan(50);
  expect(traffic.answers.filter((a) => a.status !== 200)).toEqual([]);
  // Picked up within the documented staleness (poll 500 ms + the copy's load): the last answers are the new snapshot.
  expect(after.at(-1)?.snapshot).toBe(expected);
  const firstNew = after.find((a) => a.snapshot === expected);
  expect(firstNew!.at - publishedAt).toBeLessThan(10_000);
}

async function stop(serve: Serve, signal: NodeJS.Signals): Promise<void> {
  serve.proc.kill(signal);
  const code = await exited(serve.proc);
  expect({ signal, code, stderr: serve.stderr().slice(-2000) }).toMatchObject({ code: 0 });
}

async function servedSnapshot(serve: Serve): Promise<string | undefined> {
  const agent = new Agent({ keepAlive: false });
  try {
    const a = await predict(agent, serve.base, knownIds[0]);
    expect(a.status).toBe(200);
    return a.snapshot;
  } finally {
    agent.destroy();
  }
}

function pointers(): { offline: string; online: string } {
  const current = JSON.parse(ok('features', 'current')) as {
    offline: { snapshotId: string };
    online: string;
  };
  return { offline: current.offline.snapshotId, online: current.online };
}

describe.each([1, 2])('serve --workers %i and a publish from another process', (workers) => {
  it('serves the new snapshot, stops cleanly on SIGINT and SIGTERM, and restarts on a whole store', async () => {
    // Start from A (an earlier case may have left B current).
    ok('features', 'publish', '--snapshot', dirA);
    let serve = await startServe(workers);
    expect(await servedSnapshot(serve)).toBe(idA);
    await publishUnderLoad(serve, dirB, idB);
    await stop(serve, 'SIGINT');
    expect(pointers()).toEqual({ offline: idB, online: idB });

    serve = await startServe(workers);
    expect(await servedSnapshot(serve)).toBe(idB);
    await publishUnderLoad(serve, dirA, idA);
    await stop(serve, 'SIGTERM');
    expect(pointers()).toEqual({ offline: idA, online: idA });

    serve = await startServe(workers);
    expect(await servedSnapshot(serve)).toBe(idA);
    const got = JSON.parse(ok('features', 'get', '--id', knownIds[1])) as { snapshotId: string };
    expect(got.snapshotId).toBe(idA);
    await stop(serve, 'SIGTERM');
  }, 300_000);
});
