import { spawn } from 'node:child_process';
import { processTree, rssBytes } from '../process-tree.ts';

/**
 * Runs a command and measures it from outside: wall time, CPU time (user + sys of the whole
 * process tree, from /usr/bin/time), and the peak of the tree's summed RSS (polled from /proc
 * every 100 ms: Spark's JVM and DuckDB's threads included).
 */
export interface Measured {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  stdout: string;
  stderr: string;
  code: number;
}

export async function measure(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<Measured> {
  const started = performance.now();
  const child = spawn('/usr/bin/time', ['-f', '__cpu__ %U %S', cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let peak = 0;
  const poll = () => {
    if (child.pid === undefined) return;
    peak = Math.max(
      peak,
      processTree(child.pid).reduce((s, pid) => s + rssBytes(pid), 0),
    );
  };
  const timer = setInterval(poll, 100);
  const code = await new Promise<number>((ok) => child.on('close', (c) => ok(c ?? 1)));
  clearInterval(timer);
  const wallSeconds = (performance.now() - started) / 1000;
  const cpu = /__cpu__ ([\d.]+) ([\d.]+)/.exec(stderr);
  return {
    wallSeconds,
    cpuSeconds: cpu ? Number(cpu[1]) + Number(cpu[2]) : NaN,
    peakRssMiB: peak / 2 ** 20,
    stdout,
    stderr: stderr.replace(/__cpu__.*\n?/, ''),
    code,
  };
}

/** The last line of stdout that parses as JSON. */
export function lastJson(stdout: string): Record<string, unknown> {
  const lines = stdout.trim().split('\n').reverse();
  for (const line of lines) {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      // not JSON
    }
  }
  throw new Error(`no JSON line in output:\n${stdout.slice(-2000)}`);
}
