/**
 * HTTP side by side: our `credit-risk serve` and the Python peers, each a child process on a
 * 127.0.0.1 port, each hit in turn by the same wrk run (2 threads, the request mix as a generated
 * Lua script; wrk reconnects after a `Connection: close` answer), with the same connections and
 * duration. Without wrk, loudly, the same autocannon run (bench/serve/load.mjs, its own process;
 * servers that close every connection then get one fresh connection per request, see
 * TargetSpec.keepAlive). Each target's CPU over the measured run comes from /proc. Peak RSS is the sum over the
 * target's process tree (gunicorn and uvicorn fork workers), polled from /proc.
 *
 * Targets:
 *   ours              node bin/credit-risk.mjs serve (PGlite online store, the registered champion)
 *   flask             reference_flask.py on Flask's own server (pickled random forest, SQLite)
 *   gunicorn          the same app under gunicorn -w 2 (sync workers, the default)
 *   starlette-onnx    starlette_onnx.py under uvicorn --workers 2, uvloop + httptools, same model.onnx
 *   node-floor        node-floor.mjs: not a peer, the ceiling. The least a Node server can do and keep
 *                     the contract (body, JSON.parse, a Map lookup, a constant answer), on as many
 *                     cluster workers as ours: what this machine allows any Node server under the mix
 *
 * Ablations (only when named in --targets; not configurations we ship, since issue 22 asks for
 * reasons and logging on): ours with parts of the required work taken away, to measure what each
 * part costs in throughput and p99 against the floor (docs/adr/0203-serving-p99-goal-out-of-reach.md).
 *   ours-no-info-logs          ours with POWERTOOLS_LOG_LEVEL=WARN: no per-request log line (warnings,
 *                              errors and metrics as before)
 *   ours-no-reasons            ours on a copy of the bench's home whose champion has no explainer.json:
 *                              answers with `reasons: []`, no TreeSHAP (the state of a version trained
 *                              before explanations)
 *   ours-no-reasons-no-info-logs  both
 *
 * Everything started here is killed when the comparison ends, fails, times out or is interrupted.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  cpSync,
  existsSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { processTree, rssBytes } from '../process-tree.ts';
import type { PreparedData } from './prepare.ts';

const repo = resolve(import.meta.dirname, '../..');
const peersDir = resolve(import.meta.dirname);

export interface TargetSpec {
  name: string;
  description: string;
  command: string;
  args: (port: number) => string[];
  cwd: string;
  env: Record<string, string>;
  /**
   * False for servers that close the connection after every response (Flask's dev server,
   * gunicorn sync workers): the load generator then opens a fresh connection per request
   * (bench/serve/load.mjs --new-connection-per-request) instead of autocannon's keep-alive clients.
   */
  keepAlive: boolean;
  /** Run before the target starts (an ablation's home). */
  prepare?: () => void;
}

export interface LoadFigures {
  requestsPerSecond: number;
  requests: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
  latencyMaxMs: number;
  statusCounts: { '2xx': number; '4xx': number; '5xx': number };
  errors: number;
  timeouts: number;
  client: string;
  /** The load generator's own CPU (user + system seconds) over the measured run, when known (wrk under /usr/bin/time). */
  generatorCpuSeconds?: number;
}

export interface TargetResult extends LoadFigures {
  name: string;
  description: string;
  /** Sum of VmRSS over the target's processes, max over the measured window (MiB). */
  peakRssMiB: number;
  processes: number;
  startSeconds: number;
  contract: ContractCheck;
  /** CPU seconds (user + system, from /proc) of the target's process tree over the measured run. */
  serverCpuSeconds: number;
  /** serverCpuSeconds / requests, in ms: what one request of the mix costs the target. */
  cpuMsPerRequest: number;
}

export interface ContractCheck {
  ok: boolean;
  problems: string[];
  /** Probability answered for each checked known id. */
  probabilities: Record<string, number>;
  /**
   * Checked known ids whose answer named at least one reason (ours computes TreeSHAP reasons on
   * every answer; the peers answer none): proof the measured run did the work of reasons.
   */
  answersWithReasons: number;
}

export interface CompareOptions {
  data: PreparedData;
  python: string;
  seconds: number;
  warmupSeconds: number;
  connections: number;
  work: string;
  only?: readonly string[];
  log?: (line: string) => void;
  /** 'wrk' (default; falls back loudly to 'node' when wrk is missing) or 'node' (bench/serve/load.mjs). */
  generator?: 'wrk' | 'node';
  /** Extra arguments for `credit-risk serve` (e.g. --workers 1). */
  oursArgs?: readonly string[];
}

/** The ablations' names: ours with parts of the required work taken away (see the header). */
export const ABLATIONS = ['ours-no-info-logs', 'ours-no-reasons', 'ours-no-reasons-no-info-logs'] as const;

/** Every target's name, in the order they run (what --targets takes). */
export const TARGET_NAMES: readonly string[] = [
  'ours',
  ...ABLATIONS,
  'flask',
  'gunicorn',
  'starlette-onnx',
  'node-floor',
];

/** Fails, naming the targets there are, when --targets names one that is not. */
export function checkTargetNames(names: readonly string[]): void {
  const unknown = names.filter((name) => !TARGET_NAMES.includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown --targets ${unknown.join(', ')}; the targets are ${TARGET_NAMES.join(', ')}`);
}

/**
 * A copy of the bench's home for the no-reasons ablations: the champion's explainer.json removed,
 * so the version serves `reasons: []` (it says so in a warning at load). The home's outputs
 * (prediction log, logs, metrics) are not copied: the copy is tens of MB, the home gigabytes.
 */
export function homeWithoutExplainer(data: PreparedData, dir: string): string {
  rmSync(dir, { recursive: true, force: true });
  cpSync(data.home, dir, {
    recursive: true,
    filter: (source) =>
      !/^[/\\](store[/\\]predictions-log|logs|metrics)([/\\]|$)/.test(source.slice(data.home.length)),
  });
  const explainer = join(dir, 'store/models/credit-risk', data.modelVersion, 'explainer.json');
  if (!existsSync(explainer))
    throw new Error(`no ${explainer} to remove: is ${data.modelVersion} the champion?`);
  rmSync(explainer);
  return dir;
}

/**
 * Removes the prediction log the earlier runs of the bench left in its home and says how much it
 * was. Every run of ours appends ~10^5 records to it, and nothing else prunes it (`credit-risk data
 * retention` would, in a real home), so the reused home grew by gigabytes over a day of runs. The
 * logs and metrics beside it rotate by size (CREDIT_RISK_LOG_MAX_MB) and stay.
 */
export function pruneEarlierPredictionLog(home: string): number {
  const dir = join(home, 'store/predictions-log');
  if (!existsSync(dir)) return 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (entry.isFile()) bytes += statSync(join(entry.parentPath, entry.name)).size;
  rmSync(dir, { recursive: true, force: true });
  return bytes;
}

/** Where the no-reasons ablations' home copy goes in the bench's work directory (removed when the comparison ends). */
export function ablationHomeIn(work: string): string {
  return join(work, 'home-without-explainer');
}

export function targets(
  data: PreparedData,
  python: string,
  oursArgs: readonly string[] = [],
  idsFile = '',
  work = '',
): TargetSpec[] {
  const bin = resolve(python, '..');
  const oursWorkers = oursArgs.includes('--workers')
    ? oursArgs[oursArgs.indexOf('--workers') + 1]
    : undefined;
  const peerEnv = {
    FOREST: data.forest,
    SQLITE: data.sqlite,
    MODEL_DIR: data.modelDir,
    PYTHONDONTWRITEBYTECODE: '1',
  };
  const ours: TargetSpec = {
    name: 'ours',
    description: `credit-risk serve${oursArgs.length ? ` ${oursArgs.join(' ')}` : ''}: Node (cluster workers, one per core, by default), predict handler, onnxruntime-node, PGlite online store in the primary, in-memory snapshot copy in each worker`,
    command: process.execPath,
    args: (port) => [join(repo, 'bin/credit-risk.mjs'), 'serve', '--port', String(port), ...oursArgs],
    cwd: repo,
    env: { CREDIT_RISK_HOME: data.home },
    keepAlive: true,
    prepare: () => {
      const bytes = pruneEarlierPredictionLog(data.home);
      if (bytes > 0)
        console.error(
          `[serve bench] removed the earlier runs' prediction log from ${data.home} (${(bytes / 2 ** 20).toFixed(0)} MiB)`,
        );
    },
  };
  const noInfoLogs = { POWERTOOLS_LOG_LEVEL: 'WARN' };
  const ablationHome = ablationHomeIn(work);
  const noReasons = (name: string, env: Record<string, string>, what: string): TargetSpec => ({
    ...ours,
    name,
    description: `ablation, not shipped: ${what}`,
    env: { ...env, CREDIT_RISK_HOME: ablationHome },
    prepare: () => homeWithoutExplainer(data, ablationHome),
  });
  return [
    ours,
    {
      ...ours,
      name: 'ours-no-info-logs',
      description: 'ablation, not shipped: ours with POWERTOOLS_LOG_LEVEL=WARN (no log line per request)',
      env: { ...ours.env, ...noInfoLogs },
    },
    noReasons(
      'ours-no-reasons',
      {},
      'ours without TreeSHAP (the champion without explainer.json: reasons [])',
    ),
    noReasons(
      'ours-no-reasons-no-info-logs',
      noInfoLogs,
      'ours without TreeSHAP and without a log line per request',
    ),
    {
      name: 'flask',
      description:
        "reference design on Flask's own server: pickled RandomForestClassifier (defaults), SQLite",
      command: python,
      args: () => [join(peersDir, 'reference_flask.py')],
      cwd: peersDir,
      env: peerEnv,
      keepAlive: false,
    },
    {
      name: 'gunicorn',
      description: 'the same reference app under gunicorn -w 2 (sync workers)',
      command: join(bin, 'gunicorn'),
      args: (port) => ['-w', '2', '-b', `127.0.0.1:${port}`, 'reference_flask:app'],
      cwd: peersDir,
      env: peerEnv,
      keepAlive: false,
    },
    {
      name: 'starlette-onnx',
      description:
        'Starlette on uvicorn --workers 2 (uvloop, httptools), onnxruntime with the same model.onnx, SQLite',
      command: join(bin, 'uvicorn'),
      args: (port) => [
        'starlette_onnx:app',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--workers',
        '2',
        '--loop',
        'uvloop',
        '--http',
        'httptools',
        '--no-access-log',
        '--log-level',
        'warning',
      ],
      cwd: peersDir,
      env: peerEnv,
      keepAlive: true,
    },
    {
      name: 'node-floor',
      description: `not a peer: the ceiling. node:http on ${oursWorkers ?? 'one per core (as ours)'} cluster workers, body + JSON.parse + a Map lookup of the id + a constant answer; no model, store, metrics or logs`,
      command: process.execPath,
      args: () => [join(peersDir, 'node-floor.mjs')],
      cwd: peersDir,
      env: { IDS_FILE: idsFile, ...(oursWorkers ? { WORKERS: oursWorkers } : {}) },
      keepAlive: true,
    },
  ];
}

/** The request mix every target gets: 80% known ids, 10% unknown ids, 10% bad bodies (half malformed JSON, half a numeric id). */
export function requestMix(
  ids: readonly string[],
): Array<{ method: string; path: string; headers: Record<string, string>; body: string }> {
  const mix = [];
  for (let i = 0; i < 100; i++) {
    let body: string;
    if (i % 10 === 8) body = JSON.stringify({ id: String(9_000_000_000 + i) });
    else if (i % 10 === 9) body = i % 20 === 9 ? '{"id": ' : '{"id": 5008827}';
    else body = JSON.stringify({ id: ids[(i * 7919) % ids.length] });
    mix.push({ method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body });
  }
  return mix;
}

/** A free 127.0.0.1 port (the OS picks one; it is released before use). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the tree's summed RSS until stopped; returns the peak and the largest process count seen. */
function watchRss(rootPid: number, everyMs = 200): { stop(): { peakBytes: number; processes: number } } {
  let peakBytes = 0;
  let processes = 0;
  const poll = () => {
    const tree = processTree(rootPid);
    processes = Math.max(processes, tree.length);
    peakBytes = Math.max(
      peakBytes,
      tree.reduce((s, pid) => s + rssBytes(pid), 0),
    );
  };
  poll();
  const timer = setInterval(poll, everyMs);
  return {
    stop() {
      clearInterval(timer);
      poll();
      return { peakBytes, processes };
    },
  };
}

/** Children still running, killed (whole process group) on every way out. */
const running = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

function killAll(): void {
  for (const child of running) killGroup(child, 'SIGKILL');
}

let exitHooked = false;
function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killAll();
      process.exit(130);
    });
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((r) =>
    child.exitCode !== null || child.signalCode !== null ? r() : child.once('exit', () => r()),
  );
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
  // Workers of a pre-fork server may outlive the master by a moment: make sure the group is gone.
  killGroup(child, 'SIGKILL');
  running.delete(child);
}

async function post(url: string, body: string): Promise<{ status: number; json: unknown }> {
  const r = await fetch(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: r.status, json };
}

async function waitReady(url: string, id: string, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with code ${child.exitCode} before answering`);
    try {
      const r = await post(url, JSON.stringify({ id }));
      if (r.status === 200) return;
      last = `status ${r.status}: ${JSON.stringify(r.json)}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`not ready after ${timeoutMs / 1000} s (${last})`);
}

/** The contract every target must keep for the mix to mean the same work: 200 / 404 / 400 with our bodies. */
async function checkContract(url: string, ids: readonly string[]): Promise<ContractCheck> {
  const problems: string[] = [];
  const probabilities: Record<string, number> = {};
  let answersWithReasons = 0;
  for (const id of ids) {
    const r = await post(url, JSON.stringify({ id }));
    const body = r.json as Record<string, unknown>;
    if (
      r.status !== 200 ||
      typeof body.probability !== 'number' ||
      body.id !== id ||
      (body.prediction !== 0 && body.prediction !== 1)
    ) {
      problems.push(`known id ${id}: ${r.status} ${JSON.stringify(r.json)}`);
    } else {
      probabilities[id] = body.probability;
      if (Array.isArray(body.reasons) && body.reasons.length > 0) answersWithReasons++;
    }
  }
  const expect = async (what: string, body: string, status: number, code: string) => {
    const r = await post(url, body);
    const got = (r.json as { error?: { code?: string } }).error?.code;
    if (r.status !== status || got !== code)
      problems.push(`${what}: expected ${status} ${code}, got ${r.status} ${JSON.stringify(r.json)}`);
  };
  await expect('unknown id', JSON.stringify({ id: '9000000001' }), 404, 'UNKNOWN_CUSTOMER');
  await expect('malformed JSON', '{"id": ', 400, 'INVALID_JSON');
  await expect('numeric id', '{"id": 5008827}', 400, 'INVALID_ID');
  return { ok: problems.length === 0, problems, probabilities, answersWithReasons };
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const USER_HZ = 100;

/** User + system CPU seconds of the processes alive in the tree under rootPid. */
function treeCpuSeconds(rootPid: number): number {
  let ticks = 0;
  for (const pid of processTree(rootPid)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
    } catch {
      // ended meanwhile
    }
  }
  return ticks / USER_HZ;
}

/** wrk when installed (C, event-driven: much less CPU per request than a Node generator on the same 2 cores). */
export function wrkAvailable(): boolean {
  return spawnSync('wrk', ['--version'], { stdio: 'ignore' }).error === undefined;
}

/**
 * The wrk Lua script for a request mix: each thread cycles through the same requests (offset per
 * thread) and counts statuses by class; `done` prints one JSON line prefixed with WRKJSON.
 */
export function wrkScript(
  mix: ReadonlyArray<{ method: string; path: string; headers: Record<string, string>; body: string }>,
): string {
  const lua = (text: string) => JSON.stringify(text); // ASCII bodies: a JSON string is a valid Lua string
  const entries = mix.map(
    (r) =>
      `  {${lua(r.method)}, ${lua(r.path)}, {${Object.entries(r.headers)
        .map(([k, v]) => `[${lua(k)}] = ${lua(v)}`)
        .join(', ')}}, ${lua(r.body)}},`,
  );
  return `-- generated by bench/peers/http-compare.ts from the bench's request mix
local mix = {
${entries.join('\n')}
}
local reqs = {}
local n = 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  for i, m in ipairs(mix) do reqs[i] = wrk.format(m[1], m[2], m[3], m[4]) end
  n = (tid * 37) % #reqs
  s2, s4, s5, so = 0, 0, 0, 0
end
function request()
  n = n % #reqs + 1
  return reqs[n]
end
function response(status, headers, body)
  if status < 300 then s2 = s2 + 1 elseif status < 500 then s4 = s4 + 1 elseif status < 600 then s5 = s5 + 1 else so = so + 1 end
end
function done(summary, latency, requests)
  local t2, t4, t5 = 0, 0, 0
  for _, t in ipairs(threads) do t2 = t2 + t:get("s2"); t4 = t4 + t:get("s4"); t5 = t5 + t:get("s5") end
  local e = summary.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"p50Us":%d,"p99Us":%d,"maxUs":%d,"s2xx":%d,"s4xx":%d,"s5xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max, t2, t4, t5, e.connect, e.read, e.write, e.timeout))
end
`;
}

/** One wrk run (2 threads, one per core) under /usr/bin/time for its own CPU. */
async function runWrk(
  url: string,
  seconds: number,
  connections: number,
  scriptFile: string,
): Promise<LoadFigures> {
  const args = [
    '-f',
    'WRKCPU %U %S',
    'wrk',
    '-t2',
    `-c${connections}`,
    `-d${seconds}s`,
    '--timeout',
    '10s',
    '-s',
    scriptFile,
    url,
  ];
  const { out, err } = await new Promise<{ out: string; err: string }>((resolveLoad, reject) => {
    const child = spawn('/usr/bin/time', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(child);
    let out = '';
    let err = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      running.delete(child);
      if (code === 0) resolveLoad({ out, err });
      else reject(new Error(`wrk exited ${code}: ${err}${out}`));
    });
  });
  const line = out.split('\n').find((l) => l.startsWith('WRKJSON '));
  if (!line) throw new Error(`wrk printed no result: ${out}`);
  const r = JSON.parse(line.slice(8)) as Record<string, number>;
  const cpu = /WRKCPU ([\d.]+) ([\d.]+)/.exec(err);
  return {
    requestsPerSecond: r.requests / (r.durationUs / 1e6),
    requests: r.requests,
    latencyP50Ms: r.p50Us / 1000,
    latencyP99Ms: r.p99Us / 1000,
    latencyMaxMs: r.maxUs / 1000,
    statusCounts: { '2xx': r.s2xx, '4xx': r.s4xx, '5xx': r.s5xx },
    // Socket errors (connect/read/write); a server closing after a response is not one (wrk reconnects).
    errors: r.connect + r.read + r.write,
    timeouts: r.timeout,
    client: 'wrk -t2, the mix in a Lua script (reconnects when the server closes)',
    generatorCpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : undefined,
  };
}

async function runLoad(
  url: string,
  seconds: number,
  connections: number,
  mixFile: string,
  keepAlive: boolean,
  wrkScriptFile?: string,
): Promise<LoadFigures> {
  if (wrkScriptFile) return runWrk(url, seconds, connections, wrkScriptFile);
  const args = [
    join(repo, 'bench/serve/load.mjs'),
    url,
    String(seconds),
    String(connections),
    mixFile,
    ...(keepAlive ? [] : ['--new-connection-per-request']),
  ];
  const result = await new Promise<Record<string, any>>((resolveLoad, reject) => {
    const child = spawn(process.execPath, args, {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    running.add(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      running.delete(child);
      if (code === 0) resolveLoad(JSON.parse(out));
      else reject(new Error(`autocannon exited ${code}`));
    });
  });
  return {
    requestsPerSecond: result.requests.total / seconds,
    requests: result.requests.total,
    latencyP50Ms: result.latency.p50,
    latencyP99Ms: result.latency.p99,
    latencyMaxMs: result.latency.max,
    statusCounts: { '2xx': result['2xx'], '4xx': result['4xx'], '5xx': result['5xx'] },
    errors: result.errors,
    timeouts: result.timeouts,
    client: keepAlive ? 'autocannon, keep-alive connections' : 'closed loops, a new connection per request',
  };
}

export async function compareHttp(options: CompareOptions): Promise<TargetResult[]> {
  hookExit();
  const log = options.log ?? ((line: string) => console.error(line));
  const mixFile = join(options.work, 'mix.json');
  const mix = requestMix(options.data.ids);
  writeFileSync(mixFile, JSON.stringify(mix));
  const idsFile = join(options.work, 'ids.json');
  writeFileSync(idsFile, JSON.stringify(options.data.ids));
  let wrkFile: string | undefined;
  if (options.generator !== 'node' && wrkAvailable()) {
    wrkFile = join(options.work, 'mix.lua');
    writeFileSync(wrkFile, wrkScript(mix));
    log('[serve bench] load generator: wrk (the same Lua mix for every target)');
  } else {
    log(
      options.generator === 'node'
        ? '[serve bench] load generator: bench/serve/load.mjs (autocannon), as asked'
        : '[serve bench] WARNING: wrk is not installed (apt-get install wrk); falling back to bench/serve/load.mjs (autocannon, a Node ' +
            'process that takes a good share of the same 2 cores): figures are NOT comparable with wrk runs',
    );
  }
  const checkIds = Array.from(
    { length: 20 },
    (_, i) => options.data.ids[(i * 104729) % options.data.ids.length],
  );
  const results: TargetResult[] = [];
  checkTargetNames(options.only ?? []);
  try {
    for (const spec of targets(options.data, options.python, options.oursArgs, idsFile, options.work)) {
      if (options.only && !options.only.includes(spec.name)) continue;
      spec.prepare?.();
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/predict`;
      const logFile = join(options.work, `${spec.name}.log`);
      const fd = openSync(logFile, 'w');
      const started = performance.now();
      // detached: its own process group, so the whole tree (pre-fork workers too) can be killed at once.
      const child = spawn(spec.command, spec.args(port), {
        cwd: spec.cwd,
        env: { ...process.env, ...spec.env, PORT: String(port) },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      closeSync(fd);
      running.add(child);
      try {
        log(`[serve bench] ${spec.name}: starting on port ${port} (log ${logFile})`);
        await waitReady(url, options.data.ids[0], child, 180_000);
        const startSeconds = (performance.now() - started) / 1000;
        const contract = await checkContract(url, checkIds);
        if (!contract.ok)
          log(`[serve bench] ${spec.name}: CONTRACT PROBLEMS: ${contract.problems.join('; ')}`);
        if (options.warmupSeconds > 0)
          await runLoad(url, options.warmupSeconds, options.connections, mixFile, spec.keepAlive, wrkFile);
        const rss = watchRss(child.pid as number);
        let figures: LoadFigures;
        let memory: { peakBytes: number; processes: number } | undefined;
        const cpuBefore = treeCpuSeconds(child.pid as number);
        let cpuAfter: number;
        try {
          figures = await runLoad(
            url,
            options.seconds,
            options.connections,
            mixFile,
            spec.keepAlive,
            wrkFile,
          );
        } finally {
          cpuAfter = treeCpuSeconds(child.pid as number);
          memory = rss.stop();
        }
        const serverCpuSeconds = cpuAfter - cpuBefore;
        const result: TargetResult = {
          name: spec.name,
          description: spec.description,
          ...figures,
          peakRssMiB: memory.peakBytes / 2 ** 20,
          processes: memory.processes,
          startSeconds,
          contract,
          serverCpuSeconds,
          cpuMsPerRequest: figures.requests > 0 ? (serverCpuSeconds / figures.requests) * 1000 : Number.NaN,
        };
        log(
          `[serve bench] ${spec.name}: ${result.requestsPerSecond.toFixed(0)} req/s, p50 ${result.latencyP50Ms} ms, p99 ${result.latencyP99Ms} ms, ` +
            `peak RSS ${result.peakRssMiB.toFixed(0)} MiB over ${result.processes} process(es), 5xx ${result.statusCounts['5xx']}, errors ${result.errors}, ` +
            `CPU ${result.serverCpuSeconds.toFixed(1)} s (${result.cpuMsPerRequest.toFixed(3)} ms/request)` +
            (result.generatorCpuSeconds !== undefined
              ? `, generator CPU ${result.generatorCpuSeconds.toFixed(1)} s`
              : ''),
        );
        results.push(result);
      } catch (e) {
        throw new Error(`${spec.name}: ${(e as Error).message} (see ${logFile})`, { cause: e });
      } finally {
        await stopChild(child);
      }
    }
  } finally {
    // The home copy (~100 MB with what its runs wrote); the targets' logs stay for reading.
    rmSync(ablationHomeIn(options.work), { recursive: true, force: true });
  }
  return results;
}

export interface Ratios {
  throughputVsGunicorn?: number;
  p99GunicornOverOurs?: number;
  throughputVsFlask?: number;
  throughputVsStarlette?: number;
  /** Largest |ours - starlette| probability over the checked ids (same model, same rows: should be ~0). */
  maxProbabilityDiffVsStarlette?: number;
  /** ours / node-floor throughput: the share of the machine's Node ceiling that ours reaches. */
  throughputVsFloor?: number;
  /** node-floor / starlette throughput: the most any Node server reached against Starlette in this run. */
  floorThroughputVsStarlette?: number;
  /** gunicorn p99 / node-floor p99: the p99 ratio an empty Node server got against gunicorn in this run. */
  p99GunicornOverFloor?: number;
  /** ours p99 / node-floor p99 (issue 22: <= 1.5). */
  p99VsFloor?: number;
  /** Each ablation that ran, against the floor and against ours (docs/adr/0203). */
  ablations?: Record<
    string,
    { throughputVsFloor?: number; p99VsFloor?: number; throughputVsOurs?: number; cpuMsPerRequest: number }
  >;
  goals: Record<string, { goal: string; measured: number | undefined; met: boolean | undefined }>;
}

export function ratios(results: readonly TargetResult[]): Ratios {
  const by = (name: string) => results.find((r) => r.name === name);
  const ours = by('ours');
  const gunicorn = by('gunicorn');
  const flask = by('flask');
  const starlette = by('starlette-onnx');
  const floor = by('node-floor');
  const div = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined || b === 0 ? undefined : a / b;
  const out: Ratios = {
    throughputVsGunicorn: div(ours?.requestsPerSecond, gunicorn?.requestsPerSecond),
    p99GunicornOverOurs: div(gunicorn?.latencyP99Ms, ours?.latencyP99Ms),
    throughputVsFlask: div(ours?.requestsPerSecond, flask?.requestsPerSecond),
    throughputVsStarlette: div(ours?.requestsPerSecond, starlette?.requestsPerSecond),
    throughputVsFloor: div(ours?.requestsPerSecond, floor?.requestsPerSecond),
    floorThroughputVsStarlette: div(floor?.requestsPerSecond, starlette?.requestsPerSecond),
    p99GunicornOverFloor: div(gunicorn?.latencyP99Ms, floor?.latencyP99Ms),
    p99VsFloor: div(ours?.latencyP99Ms, floor?.latencyP99Ms),
    goals: {},
  };
  for (const name of ABLATIONS) {
    const a = by(name);
    if (!a) continue;
    out.ablations ??= {};
    out.ablations[name] = {
      throughputVsFloor: div(a.requestsPerSecond, floor?.requestsPerSecond),
      p99VsFloor: div(a.latencyP99Ms, floor?.latencyP99Ms),
      throughputVsOurs: div(a.requestsPerSecond, ours?.requestsPerSecond),
      cpuMsPerRequest: a.cpuMsPerRequest,
    };
  }
  if (ours && starlette) {
    let max = 0;
    for (const [id, p] of Object.entries(ours.contract.probabilities)) {
      const q = starlette.contract.probabilities[id];
      if (q !== undefined) max = Math.max(max, Math.abs(p - q));
    }
    out.maxProbabilityDiffVsStarlette = max;
  }
  const goal = (text: string, measured: number | undefined, min: number) => ({
    goal: text,
    measured,
    met: measured === undefined ? undefined : measured >= min,
  });
  const atMost = (text: string, measured: number | undefined, max: number) => ({
    goal: text,
    measured,
    met: measured === undefined ? undefined : measured <= max,
  });
  out.goals = {
    throughputVsGunicorn: goal('>= 20x', out.throughputVsGunicorn, 20),
    p99VsGunicorn: goal('ours <= 1/10 of gunicorn p99', out.p99GunicornOverOurs, 10),
    throughputVsStarlette: goal('>= 5x', out.throughputVsStarlette, 5),
    // Issue 22; both out of reach with reasons and logs on (docs/adr/0198, docs/adr/0203).
    throughputVsFloor: goal('>= 0.6x the node floor (#22)', out.throughputVsFloor, 0.6),
    p99VsFloor: atMost("<= 1.5x the node floor's p99 (#22)", out.p99VsFloor, 1.5),
  };
  return out;
}
