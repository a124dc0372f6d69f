import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Temporary files a killed process left behind, and their removal by the next command
 * (docs/adr/0185-crash-points-and-orphan-temps.md).
 *
 * Every writer under the home writes a temp file (or directory) and renames it into place; the
 * temp's name carries the writer's pid: `<name>.tmp-<pid>...`, `.tmp-<pid>-<uuid>`,
 * `.<name>.tmp-<pid>`, `<name>.tmp-erase-<pid>...`. A `kill -9` between the write and the rename
 * leaves the temp. Readers never see one (the object store does not list `.tmp-` names), but
 * it holds bytes (customer rows, for a snapshot part) that nothing would ever delete. So each
 * command that opens the home (createLocalRoot) removes the temps whose pid is not a live process
 * on this machine; a live writer's temps (a serve, a concurrent publish) are left alone. The
 * online store's load also writes a CSV of customer rows into the OS temp directory
 * (`cr-online-csv-<pid>-*`): swept by the same rule.
 */
export const TEMP_NAME = /\.tmp-(?:[a-z]+-)*(\d+)(?:[-.]|$)/;
const OS_TEMP_NAME = /^cr-online-csv-(\d+)-/;

export function pidIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else.
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

export interface SweepOptions {
  /** Directories not to descend into (the PGlite data directory: PostgreSQL's own files). */
  skip?: readonly string[];
  /** Also sweep `cr-online-csv-<pid>-*` in this directory (default: the OS temp directory; null: no). */
  osTemp?: string | null;
  isAlive?: (pid: number) => boolean;
}

/** Removes orphaned temps under `root` (see above); returns the paths removed. */
export function sweepOrphanTemps(root: string, options: SweepOptions = {}): string[] {
  const isAlive = options.isAlive ?? pidIsAlive;
  const skip = new Set(options.skip ?? []);
  const removed: string[] = [];
  const orphan = (name: string, pattern: RegExp): boolean => {
    const m = pattern.exec(name);
    return m !== null && !isAlive(Number(m[1]));
  };
  const remove = (path: string) => {
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Another command sweeping at the same moment, or not ours to remove: the next one tries.
    }
  };
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const path = join(dir, e.name);
      if (orphan(e.name, TEMP_NAME)) remove(path);
      else if (e.isDirectory() && !skip.has(path)) walk(path);
    }
  };
  walk(root);
  const osTemp = options.osTemp === undefined ? tmpdir() : options.osTemp;
  if (osTemp !== null) {
    let names: string[] = [];
    try {
      names = readdirSync(osTemp);
    } catch {
      // No OS temp directory to look at.
    }
    for (const name of names) if (orphan(name, OS_TEMP_NAME)) remove(join(osTemp, name));
  }
  return removed;
}
