import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { InputError } from '#lib/errors.ts';
import { applyRunEvent, newRunRecord, type RunEvent, type RunRecord } from '#lib/pipeline/run-record.ts';

/**
 * Executions on disk: `<home.runs>/<executionId>/run.json`, rewritten (atomically: temp file +
 * rename) after every event, so `pipeline status` shows a run in progress and a crash leaves the
 * record as of its last event.
 */
export class RunStore {
  constructor(readonly dir: string) {}

  private file(executionId: string): string {
    return join(this.dir, executionId, 'run.json');
  }

  save(record: RunRecord): void {
    const file = this.file(record.executionId);
    mkdirSync(join(this.dir, record.executionId), { recursive: true });
    const tmp = `${file}.tmp-${process.pid}-${randomUUID()}`;
    writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`);
    renameSync(tmp, file);
  }

  /**
   * A recorder that folds events into `record` and saves it after each one. The record names this
   * process as its owner (a resumed run takes it over), so a run whose process died can be told
   * from one in flight (runningTrainings).
   */
  recorder(record: RunRecord): (event: RunEvent) => void {
    record.owner = { pid: process.pid, host: hostname() };
    this.save(record);
    return (event) => {
      applyRunEvent(record, event);
      this.save(record);
    };
  }

  start(options: Parameters<typeof newRunRecord>[0]): { record: RunRecord; onEvent: (e: RunEvent) => void } {
    const record = newRunRecord(options);
    return { record, onEvent: this.recorder(record) };
  }

  list(): RunRecord[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: RunRecord[] = [];
    for (const name of names) {
      try {
        out.push(JSON.parse(readFileSync(this.file(name), 'utf8')) as RunRecord);
      } catch {
        // Not a run directory (or a run whose first save never happened).
      }
    }
    return out.sort(
      (a, b) => b.startedAt.localeCompare(a.startedAt) || b.executionId.localeCompare(a.executionId),
    );
  }

  /** A run by id or unique id prefix; `latest` (or nothing) is the most recent one. */
  get(ref?: string): RunRecord {
    const runs = this.list();
    if (ref === undefined || ref === 'latest') {
      if (runs.length === 0)
        throw new InputError(
          'NO_RUNS',
          `no pipeline runs recorded under ${this.dir} yet (start one: credit-risk pipeline run)`,
        );
      return runs[0];
    }
    const exact = runs.find((r) => r.executionId === ref);
    if (exact) return exact;
    const matches = runs.filter((r) => r.executionId.startsWith(ref));
    if (matches.length === 1) return matches[0];
    if (matches.length === 0)
      throw new InputError(
        'UNKNOWN_RUN',
        `no run ${ref} under ${this.dir} (see: credit-risk pipeline history)`,
      );
    throw new InputError(
      'AMBIGUOUS_RUN',
      `${ref} matches ${matches.length} runs: ${matches.map((m) => m.executionId).join(', ')}`,
    );
  }
}

/** `training-20250101T101010Z-3f9a`: sortable by time, unique enough on one machine. */
export function newExecutionName(stateMachine: string, now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stateMachine}-${stamp}-${randomBytes(2).toString('hex')}`;
}
