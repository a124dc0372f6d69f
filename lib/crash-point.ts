import { writeSync } from 'node:fs';

/**
 * Named crash points for the crash matrix (test/e2e/crash-matrix.test.ts, docs/adr/0185).
 *
 * `CREDIT_RISK_CRASH_AT=<name>` (or `<name>@<n>`: the n-th time) makes the process that reaches
 * the point named `<name>` write `crash-point <name>` on stderr and kill itself with SIGKILL
 * there: exactly what `kill -9` from outside does to the files on disk (no handler, no flush, no
 * finally), but at a moment the test chooses instead of one a timer happens to hit.
 *
 * The variable is read once, when this module loads; unset (always, outside tests) a crash point
 * is one comparison against undefined. Names are `<area>:<moment>`, listed where they are placed
 * (grep `crashPoint(`); a name no code reaches does nothing, so the matrix asserts the marker.
 */
const wanted = parseCrashAt(process.env.CREDIT_RISK_CRASH_AT);
let hits = 0;

export function parseCrashAt(raw: string | undefined): { name: string; nth: number } | undefined {
  if (raw === undefined || raw === '') return undefined;
  const m = /^(.+?)(?:@(\d+))?$/.exec(raw);
  return m ? { name: m[1], nth: m[2] === undefined ? 1 : Number(m[2]) } : undefined;
}

export function crashPoint(name: string): void {
  if (wanted === undefined || wanted.name !== name || ++hits < wanted.nth) return;
  // Synchronous: the marker must be out before the signal, and nothing after it may run.
  writeSync(2, `crash-point ${name}\n`);
  process.kill(process.pid, 'SIGKILL');
}
