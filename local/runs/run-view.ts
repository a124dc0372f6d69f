import { failedStates, runDecision, runModelVersion, type RunRecord } from '#lib/pipeline/run-record.ts';
import { isInterrupted } from './running-trainings.ts';

/** The status to show: `interrupted` for a run still marked running whose local process is gone. */
function shownStatus(record: RunRecord): string {
  return isInterrupted(record) ? 'interrupted' : record.status;
}

/** Text views of run records for `pipeline status|history` and `aws pipeline status`. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => (cell ?? '').padEnd(widths[c]))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

const short = (v: string | null) => (v ? v.slice(0, 12) : '-');

function duration(ms: number | undefined): string {
  if (ms === undefined) return '…';
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export function formatRunStatus(record: RunRecord): string {
  const decision = runDecision(record);
  const lines = [
    `run       ${record.executionId}${record.resumedFrom ? `  (resumes ${record.resumedFrom})` : ''}`,
    `status    ${shownStatus(record)}${decision ? `, ${decision}` : ''}`,
    `model     ${short(runModelVersion(record))}`,
    `started   ${record.startedAt}${record.seconds !== undefined ? `, took ${record.seconds.toFixed(1)} s` : ''}`,
  ];
  if (record.failAt) lines.push(`injected  fault at ${record.failAt.join(', ')}`);
  const reasons = (record.output as { reasons?: unknown } | undefined)?.reasons;
  if (Array.isArray(reasons) && reasons.length > 0)
    lines.push(`why       ${reasons.map(String).join('\n          ')}`);
  const reused = new Set(record.tasks.filter((t) => t.reused).map((t) => t.name));
  const rows = [['state', 'type', 'time', 'result']];
  for (const s of record.states) {
    const name = s.index !== undefined ? `  ${s.name}[${s.index}]` : s.name;
    let result = s.endedAt === undefined ? 'running' : 'ok';
    if (reused.has(s.name) && !s.error) result = 'reused from the failed run';
    if (s.error) result = `${s.caught ? 'caught' : 'FAILED'} ${s.error.error}: ${oneLine(s.error.cause)}`;
    if (s.retries > 0) result += ` (after ${s.retries} retr${s.retries === 1 ? 'y' : 'ies'})`;
    rows.push([name, s.type, duration(s.ms), result]);
  }
  lines.push('', table(rows));
  const failed = failedStates(record)[0];
  if (record.status === 'failed' && failed) {
    lines.push(
      '',
      `failed at ${failed.name}: ${failed.error?.error}. Resume it: credit-risk pipeline resume ${record.executionId}`,
    );
  }
  if (isInterrupted(record)) {
    const at = record.states.filter((s) => s.endedAt === undefined).at(-1)?.name ?? 'its start';
    lines.push(
      '',
      `interrupted at ${at}: its process (pid ${record.owner?.pid}) is gone. Resume it: credit-risk pipeline resume ${record.executionId}`,
    );
  }
  return lines.join('\n');
}

export function formatHistory(records: readonly RunRecord[]): string {
  if (records.length === 0) return 'no pipeline runs yet (start one: credit-risk pipeline run)';
  const rows = [['run', 'status', 'decision', 'model', 'seconds', 'started']];
  for (const r of records) {
    rows.push([
      r.executionId,
      shownStatus(r),
      runDecision(r) ?? '-',
      short(runModelVersion(r)),
      r.seconds?.toFixed(1) ?? '-',
      r.startedAt,
    ]);
  }
  return table(rows);
}
