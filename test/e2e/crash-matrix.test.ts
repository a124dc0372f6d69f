/** @jest-environment ./test/integration/serving/onnx-environment.cjs */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEMP_NAME } from '#local/orphan-temps.ts';

/**
 * The crash matrix (issue 21): `kill -9` at named moments of `features publish`, `models promote`,
 * `models rollback` and `pipeline run` (the canary wait included), each on its own copy of one
 * prepared home. The moment is chosen with CREDIT_RISK_CRASH_AT (lib/crash-point.ts): the process
 * prints `crash-point <name>` and SIGKILLs itself there, so every run kills at the same place.
 * After each kill:
 * - the registry's audit log, aliases.json and audit.jsonl parse, the log's entries are 1..N with
 *   no gap, and audit.jsonl holds a prefix of them (whole again after the re-run);
 * - features/CURRENT names a snapshot whose manifest and files are there, with their sha256;
 * - `serve` starts on the crashed home and answers /predict with 200;
 * - `pipeline status` says the run was interrupted, at which state (never `running` forever);
 * - the re-run (`pipeline resume`, or the same command again) finishes and leaves one consistent
 *   state: CURRENT and the online store agree, the served alias is the registry's champion;
 * - no temp file of the killed process is left once the next command has opened the home
 *   (local/orphan-temps.ts).
 */
const repo = resolve(import.meta.dirname, '../..');
const BIN = join(repo, 'bin/credit-risk.mjs');
const GATE = JSON.stringify({
  requireBrierBeatsBaseRate: false,
  maxEce: 1,
  minAuc: 0,
  minTestPositives: 1,
  minTestRows: 50,
  maxAucDrop: 1,
  baselineAucMargin: -1,
});
const CANARY = JSON.stringify({ minCanaryRequests: 0, minChampionRequests: 1_000_000_000 });
const MODELS = 'store/models/credit-risk';

const work = mkdtempSync(join(tmpdir(), 'cr-e2e-crash-'));
const base = join(work, 'base');
const children: ChildProcess[] = [];
let versionB = '';
let snapshotA = '';
let snapshotB = '';
/** Customers in both snapshots: every state the matrix can leave serves them. */
let knownId = '';

interface Ran {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

function run(home: string, args: string[], env: Record<string, string> = {}): Ran {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd: repo,
    env: { ...process.env, CREDIT_RISK_HOME: home, CREDIT_RISK_WAIT_SCALE: '0', ...env },
    encoding: 'utf8',
  });
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

function ok(home: string, ...args: string[]): string {
  const r = run(home, args);
  if (r.status !== 0) throw new Error(`credit-risk ${args.join(' ')} exited ${r.status}:\n${r.stderr}`);
  return r.stdout;
}

const readJson = <T>(path: string): T => JSON.parse(readFileSync(path, 'utf8')) as T;
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

function pipelineArgs(rows: number, trees: number): string[] {
  return [
    'pipeline',
    'run',
    '--rows',
    String(rows),
    '--train',
    JSON.stringify({ numTrees: trees, earlyStoppingRounds: 0 }),
    '--gate',
    GATE,
    '--canary',
    CANARY,
    '--no-traffic',
    '--json',
  ];
}

beforeAll(() => {
  // One champion (a pipeline run: snapshot A, the alias table, a build), and for the cases a
  // built snapshot B and a registered model of B to promote.
  ok(base, ...pipelineArgs(4000, 3));
  const data = join(base, 'data');
  ok(base, 'data', 'generate', '--rows', '4000', '--seed', '8', '--out', join(data, 'b.csv'));
  ok(base, 'features', 'build', '--input', join(data, 'b.csv'), '--out', join(data, 'snap-b'));
  ok(
    base,
    'train',
    '--input',
    join(data, 'snap-b/features.parquet'),
    '--out',
    join(data, 'model-b'),
    '--trees',
    '4',
  );
  versionB = (
    JSON.parse(ok(base, 'models', 'register', join(data, 'model-b'), '--json')) as { version: string }
  ).version;
  snapshotA = readJson<{ snapshotId: string }>(join(base, 'store/features/CURRENT')).snapshotId;
  snapshotB = readJson<{ snapshotId: string }>(join(data, 'snap-b/manifest.json')).snapshotId;
  const ids = (file: string) =>
    new Set(
      readFileSync(file, 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[1]),
    );
  const b = ids(join(data, 'b.csv'));
  knownId = [...ids(join(data, 'loans-4000-seed42.csv'))].find((id) => b.has(id)) ?? '';
  expect(knownId).toMatch(/^\d+$/);
}, 180_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** A copy of the prepared home for one case. */
function homeFor(name: string): string {
  const home = join(work, name);
  cpSync(base, home, { recursive: true });
  return home;
}

function crash(home: string, point: string, args: string[]): Ran {
  const r = run(home, args, { CREDIT_RISK_CRASH_AT: point });
  expect({ signal: r.signal, marker: r.stderr.includes(`crash-point ${point}\n`) }).toEqual({
    signal: 'SIGKILL',
    marker: true,
  });
  return r;
}

function tempFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (TEMP_NAME.test(e.name)) out.push(join(e.parentPath, e.name));
  }
  return out;
}

/** The registry and the feature store's pointer are whole: every file parses, nothing dangles. */
function assertWhole(home: string): void {
  const entries = readdirSync(join(home, MODELS, 'audit'))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) =>
      readJson<{ seq: number; aliases: { champion: string | null } }>(join(home, MODELS, 'audit', f)),
    );
  expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
  const jsonl = readFileSync(join(home, MODELS, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { seq: number });
  expect(jsonl.map((e) => e.seq)).toEqual(entries.slice(0, jsonl.length).map((e) => e.seq));
  const cached = readJson<{ seq: number }>(join(home, MODELS, 'aliases.json'));
  expect(cached.seq).toBeLessThanOrEqual(entries.length);
  // aliases.json is written after audit.jsonl (lib/registry/registry.ts writeViews).
  expect(jsonl.length).toBeGreaterThanOrEqual(cached.seq);
  for (const f of readdirSync(join(home, 'store/features/audit')))
    readJson(join(home, 'store/features/audit', f));

  const current = readJson<{ snapshotId: string; manifestKey: string }>(join(home, 'store/features/CURRENT'));
  const folder = join(home, 'store/features', `snapshot=${current.snapshotId}`);
  const manifest = readJson<{ snapshotId: string; files: Record<string, { sha256: string }> }>(
    join(home, 'store', current.manifestKey),
  );
  expect(manifest.snapshotId).toBe(current.snapshotId);
  expect(sha256(join(folder, 'part-00000.parquet'))).toBe(manifest.files.features.sha256);
  expect(sha256(join(folder, 'online.parquet'))).toBe(manifest.files.online.sha256);
}

/** The registry's views say what its log says (after the re-run). */
function assertViewsCurrent(home: string): { champion: string | null; canary: unknown } {
  const n = readdirSync(join(home, MODELS, 'audit')).filter((f) => f.endsWith('.json')).length;
  const jsonl = readFileSync(join(home, MODELS, 'audit.jsonl'), 'utf8')
    .trim()
    .split('\n');
  expect(jsonl).toHaveLength(n);
  const aliases = readJson<{ seq: number; champion: string | null; canary: unknown }>(
    join(home, MODELS, 'aliases.json'),
  );
  expect(aliases.seq).toBe(n);
  return aliases;
}

/** The local alias table routes everything to the registry's champion. */
function assertServedIsChampion(home: string): void {
  const { champion, canary } = assertViewsCurrent(home);
  expect(canary).toBeNull();
  const table = readJson<{
    versions: { functionVersion: string; modelVersion: string }[];
    routing: { functionVersion: string; canary: unknown };
  }>(join(home, 'builds/alias-live.json'));
  expect(table.routing.canary).toBeNull();
  expect(table.versions.find((v) => v.functionVersion === table.routing.functionVersion)?.modelVersion).toBe(
    champion,
  );
}

/** `serve` on the home answers /predict for a known customer; returns the answer's body. */
async function servedAnswer(home: string): Promise<{ modelVersion: string; featureSnapshot: string }> {
  const proc = spawn(process.execPath, [BIN, 'serve', '--workers', '1', '--port', '0'], {
    cwd: repo,
    env: { ...process.env, CREDIT_RISK_HOME: home },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(proc);
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    const deadline = Date.now() + 60_000;
    let base: string | undefined;
    while (!(base = /listening on (http:\/\/[\d.:]+)/.exec(stderr)?.[1])) {
      if (proc.exitCode !== null || Date.now() > deadline)
        throw new Error(`serve did not start (exit ${proc.exitCode}):\n${stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(`${base}/predict`, { method: 'POST', body: JSON.stringify({ id: knownId }) });
    const body = (await res.json()) as { modelVersion: string; featureSnapshot: string };
    expect({ status: res.status, body }).toMatchObject({ status: 200 });
    return body;
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
  }
}

/** What every case checks right after the kill: whole stores, serving, temps gone after serve. */
async function afterKill(home: string, leftTemps: 'may' | 'none' = 'may') {
  if (leftTemps === 'none') expect(tempFiles(home)).toEqual([]);
  assertWhole(home);
  const answer = await servedAnswer(home);
  // serve was the next command: it removed what the killed process left.
  expect(tempFiles(home)).toEqual([]);
  return answer;
}

const PUBLISH_POINTS = [
  // Snapshot B's part is uploaded, its manifest not: B is not a snapshot yet.
  ['features-publish:offline-before-manifest', 'A'],
  // Killed inside the online store's swap transaction: PostgreSQL's recovery undoes it.
  ['online-store:inside-swap', 'A'],
  // The documented window (lib/features/publish.ts): online serves B, CURRENT still names A.
  ['features-publish:after-online', 'B'],
  // The audit entry written, the pointer not.
  ['features-publish:after-audit', 'B'],
  // A write killed between its temp file and the rename (the audit entry's).
  ['object-store:temp-written', 'B'],
] as const;

describe('kill -9 during features publish', () => {
  it.each(PUBLISH_POINTS)(
    'at %s: serving unbroken, the re-run publishes',
    async (point, served) => {
      const home = homeFor('publish-' + point.replace(/:/g, '_'));
      const snapB = join(home, 'data/snap-b');
      crash(home, point, ['features', 'publish', '--snapshot', snapB]);
      const answer = await afterKill(home);
      expect(answer.featureSnapshot).toBe(served === 'A' ? snapshotA : snapshotB);
      expect(readJson<{ snapshotId: string }>(join(home, 'store/features/CURRENT')).snapshotId).toBe(
        snapshotA,
      );

      ok(home, 'features', 'publish', '--snapshot', snapB);
      const current = JSON.parse(ok(home, 'features', 'current')) as {
        offline: { snapshotId: string };
        online: string;
      };
      expect({ offline: current.offline.snapshotId, online: current.online }).toEqual({
        offline: snapshotB,
        online: snapshotB,
      });
      const audit = readdirSync(join(home, 'store/features/audit'))
        .sort()
        .map((f) => readJson<{ snapshotId: string }>(join(home, 'store/features/audit', f)).snapshotId);
      // One entry for the publish of B, whether the killed run or the re-run wrote it.
      expect(audit).toEqual([snapshotA, snapshotB]);
      assertWhole(home);
    },
    60_000,
  );
});

describe('kill -9 during models promote and rollback', () => {
  it.each([['registry:promote:after-audit-entry'], ['registry:after-audit-jsonl']])(
    'promote, at %s: the log has the promote, the re-run completes the views',
    async (point) => {
      const home = homeFor('promote-' + point.replace(/:/g, '_'));
      crash(home, point, ['models', 'promote', versionB]);
      const answer = await afterKill(home, 'none');
      // The entry is the commit point: readers follow the log past the stale aliases.json.
      expect(answer.modelVersion).toBe(versionB);
      ok(home, 'models', 'promote', versionB);
      expect(assertViewsCurrent(home).champion).toBe(versionB);
    },
    60_000,
  );

  it('rollback, at registry:rollback:after-audit-entry: the champion is the previous one', async () => {
    const home = homeFor('rollback');
    const championA = readJson<{ champion: string }>(join(home, MODELS, 'aliases.json')).champion;
    ok(home, 'models', 'promote', versionB);
    crash(home, 'registry:rollback:after-audit-entry', ['models', 'rollback', '--reason', 'matrix']);
    expect((await afterKill(home, 'none')).modelVersion).toBe(championA);
    // A second rollback would go further back: what finishes the views is any registry change,
    // here a promote of the version that already is champion (a no-op).
    ok(home, 'models', 'promote', championA);
    expect(assertViewsCurrent(home).champion).toBe(championA);
  }, 60_000);
});

describe('kill -9 during pipeline run', () => {
  it.each([
    // Features published, the model not trained yet.
    ['pipeline:Train', 'Train'],
    // The canary is deployed and routed; the run waits for its traffic.
    ['pipeline:WaitForCanaryTraffic', 'WaitForCanaryTraffic'],
    // PromoteCanary: the alias routes the new version, the registry's promote entry is written.
    ['registry:promote:after-audit-entry', 'PromoteCanary'],
  ])(
    'at %s: status says interrupted at %s, resume promotes',
    async (point, state) => {
      const home = homeFor('pipeline-' + point.replace(/:/g, '_'));
      crash(home, point, pipelineArgs(4500, 5));
      await afterKill(home);

      const status = ok(home, 'pipeline', 'status');
      expect(status).toMatch(/^status\s+interrupted$/m);
      expect(status).toContain(`interrupted at ${state}: its process`);

      const resumed = JSON.parse(ok(home, 'pipeline', 'resume', 'latest', '--no-traffic', '--json')) as {
        status: string;
        decision: string;
        modelVersion: string;
      };
      expect(resumed.status).toBe('succeeded');
      // Killed after the registry's promote, the resume finds the model champion already.
      expect(resumed.decision).toBe(state === 'PromoteCanary' ? 'unchanged' : 'promoted');
      assertWhole(home);
      assertServedIsChampion(home);
      expect(readJson<{ champion: string }>(join(home, MODELS, 'aliases.json')).champion).toBe(
        resumed.modelVersion,
      );
      expect(tempFiles(home)).toEqual([]);
      expect(existsSync(join(home, 'store/features/CURRENT'))).toBe(true);
    },
    90_000,
  );
});
