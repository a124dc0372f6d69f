import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RAW_COLUMN_NAMES } from '#lib/features/raw-schema.ts';
import {
  BIN,
  REPO,
  prepareServedHome,
  startServeProcess,
  type ServeProcess,
  type ServedHome,
} from '../support/served-home.ts';
import { measuredRun, type MeasuredRun } from '../support/measured-run.ts';

/**
 * Issue 21, hostile files: `credit-risk features build` and `features publish` as a user runs
 * them (child processes) on files made to break them, while `credit-risk serve` answers from the
 * snapshot published before. Each file gets a clear error (exit 2 and `error [CODE]`) or a
 * snapshot whose bad rows are quarantined with their reason; the build's peak RSS stays under
 * 1.5 GB (GNU time's %M, else the child's VmHWM sampled from /proc); a publish of what such a
 * build leaves is refused (empty, all-invalid, shrunk or corrupted snapshots), and serve keeps
 * answering 200 from the old snapshot throughout.
 */
const MEMORY_BOUND = 1.5 * 1024 ** 3;
const HEADER = RAW_COLUMN_NAMES.join(',');

let served: ServedHome;
let serve: ServeProcess;
let rows: string[];

beforeAll(async () => {
  served = prepareServedHome('cr-e2e-hostile-files-');
  rows = readFileSync(served.csv, 'utf8').trimEnd().split('\n').slice(1);
  serve = await startServeProcess(served.env, 1);
}, 180_000);

afterAll(async () => {
  if (serve) await serve.stop();
  // The home holds generated files (two of 50 MB in the files suite): not left in the temp dir.
  if (served) rmSync(served.home.root, { recursive: true, force: true });
});

type Run = MeasuredRun;

/** The CLI under GNU time (or /proc sampling), with its peak RSS. */
function measured(args: string[]): Promise<Run> {
  return measuredRun([BIN, ...args], { scratchDir: served.home.root, cwd: REPO, env: served.env });
}

/** serve still answers a known customer from the snapshot published in beforeAll. */
async function expectServingUnchanged(): Promise<void> {
  const res = await fetch(`${serve.base}/predict`, {
    method: 'POST',
    body: JSON.stringify({ id: served.knownIds[0] }),
  });
  expect(res.status).toBe(200);
  expect(((await res.json()) as { featureSnapshot: string }).featureSnapshot).toBe(served.snapshotId);
}

function file(name: string, content: string | Buffer): string {
  const path = join(served.home.data, name);
  writeFileSync(path, content);
  return path;
}

const body = (from: number, to: number) => rows.slice(from, to).join('\n');
/** Replaces column COLUMN of a raw row. */
const withField = (row: string, column: (typeof RAW_COLUMN_NAMES)[number], value: string) => {
  const f = row.split(',');
  f[RAW_COLUMN_NAMES.indexOf(column)] = value;
  return f.join(',');
};

type Expect = { error: string } | { valid: number; quarantined: Record<string, number> };

const files: Array<[string, () => string, Expect]> = [
  ['an empty file', () => file('empty.csv', ''), { error: 'EMPTY_FILE' }],
  [
    'binary garbage',
    () => file('binary.csv', Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919 + 13) % 256))),
    { error: 'MISSING_COLUMNS' },
  ],
  [
    'one 50 MB line and no newline',
    () => file('one-line.csv', 'x'.repeat(50 * 1024 * 1024)),
    { error: 'HEADER_TOO_LONG' },
  ],
  [
    'a semicolon delimiter',
    () => file('semicolon.csv', `${HEADER}\n${body(0, 50)}\n`.replaceAll(',', ';')),
    { error: 'MISSING_COLUMNS' },
  ],
  [
    'a duplicated column',
    () =>
      file(
        'dup.csv',
        `${HEADER},id\n${rows
          .slice(0, 50)
          .map((r) => `${r},1`)
          .join('\n')}\n`,
      ),
    { error: 'DUPLICATE_COLUMNS' },
  ],
  [
    'a missing column',
    () =>
      file(
        'missing.csv',
        `${RAW_COLUMN_NAMES.slice(1).join(',')}\n${rows
          .slice(0, 50)
          .map((r) => r.slice(r.indexOf(',') + 1))
          .join('\n')}\n`,
      ),
    { error: 'MISSING_COLUMNS' },
  ],
  ['a header only', () => file('header.csv', `${HEADER}\n`), { valid: 0, quarantined: {} }],
  [
    'one 50 MB line among valid rows',
    () =>
      file('line-50mb.csv', `${HEADER}\n${body(0, 30)}\n${'x'.repeat(50 * 1024 * 1024)}\n${body(30, 60)}\n`),
    { valid: 60, quarantined: { record_too_long: 1 } },
  ],
  [
    'Latin-1 bytes',
    () =>
      file(
        'latin1.csv',
        Buffer.concat([
          Buffer.from(`${HEADER}\n${body(0, 49)}\n`),
          Buffer.from(`${withField(rows[49], 'occupation_type', 'Caf\xe9 staff')}\n`, 'latin1'),
        ]),
      ),
    { valid: 49, quarantined: { invalid_utf8: 1 } },
  ],
  [
    '10,000 extra fields on 20 rows',
    () =>
      file(
        'wide.csv',
        `${HEADER}\n${body(0, 40)}\n${rows
          .slice(40, 60)
          .map((r) => r + ',x'.repeat(10_000))
          .join('\n')}\n`,
      ),
    { valid: 40, quarantined: { too_many_fields: 20 } },
  ],
  [
    'an unterminated quote',
    () =>
      file(
        'open-quote.csv',
        `${HEADER}\n${body(0, 10)}\n${withField(rows[10], 'occupation_type', '"Laborers')}\n${body(11, 60)}\n`,
      ),
    { valid: 10, quarantined: { record_spans_lines: 1 } },
  ],
  [
    'NUL bytes in a field and as a row',
    () =>
      file(
        'nul.csv',
        `${HEADER}\n${body(0, 30)}\n${withField(rows[30], 'code_gender', '\0')}\n\0\0\0\n${body(31, 40)}\n`,
      ),
    { valid: 39, quarantined: { unknown_category: 1, wrong_column_count: 1 } },
  ],
  [
    '100% invalid rows',
    () =>
      file(
        'all-bad.csv',
        `${HEADER}\n${rows
          .slice(0, 50)
          .map((r) => withField(r, 'loan_date', 'not-a-date'))
          .join('\n')}\n`,
      ),
    { valid: 0, quarantined: { invalid_date: 50 } },
  ],
];

describe('features build on hostile files', () => {
  it.each(files)(
    '%s',
    async (name, make, want) => {
      const input = make();
      const out = join(served.home.data, `out-${name.replace(/\W+/g, '-')}`);
      const run = await measured(['features', 'build', '--input', input, '--out', out, '--json']);
      if (run.peakRss !== null) expect(run.peakRss).toBeLessThan(MEMORY_BOUND);
      if ('error' in want) {
        // --json: the error is one JSON line on stderr, {"error": {"code", "message", ...}}.
        expect({ status: run.status, stderr: run.stderr.slice(-1500) }).toMatchObject({ status: 2 });
        const error = JSON.parse(run.stderr.trim().split('\n').at(-1)!) as {
          error: { code: string; message: string };
        };
        expect(error.error).toMatchObject({ code: want.error, message: expect.stringContaining(input) });
        // A refused input leaves no snapshot behind.
        expect(existsSync(join(out, 'manifest.json'))).toBe(false);
        return;
      }
      expect({ status: run.status, stderr: run.stderr.slice(-1500) }).toMatchObject({ status: 0 });
      const summary = JSON.parse(run.stdout) as {
        rowsValid: number;
        rowsQuarantined: number;
        byReason: Record<string, number>;
      };
      const reasons = Object.fromEntries(
        Object.entries(summary.byReason).map(([k, v]) => [k.split(':')[0], v]),
      );
      expect({ valid: summary.rowsValid, quarantined: reasons }).toEqual(want);
      // Every quarantined record is in quarantine.csv with its reason, nothing silently lost.
      const quarantined = Object.values(want.quarantined).reduce((a, b) => a + b, 0);
      expect(summary.rowsQuarantined).toBe(quarantined);
      if (quarantined > 0) {
        const q = readFileSync(join(out, 'quarantine.csv'), 'utf8');
        for (const reason of Object.keys(want.quarantined)) expect(q).toContain(reason);
      }
    },
    60_000,
  );
});

describe('features publish of what hostile files leave, while serve answers', () => {
  const outOf = (name: string) => join(served.home.data, `out-${name.replace(/\W+/g, '-')}`);

  it.each([
    ['a header only', 'no_customers'],
    ['100% invalid rows', 'no_customers'],
    ['Latin-1 bytes', 'too_few_customers'],
  ])('the snapshot of %s is refused (%s), serving left on the old snapshot', async (name, guard) => {
    const r = await measured(['features', 'publish', '--snapshot', outOf(name)]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('error [PUBLISH_REFUSED]');
    expect(r.stderr).toContain(guard);
    await expectServingUnchanged();
  });

  it.each(['online.parquet', 'features.parquet'])(
    'a snapshot whose %s was overwritten with garbage is SNAPSHOT_CORRUPT, even with --force',
    async (broken) => {
      const dir = join(served.home.data, `corrupt-${broken}`);
      cpSync(outOf('one 50 MB line among valid rows'), dir, { recursive: true });
      writeFileSync(join(dir, broken), Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) % 256)));
      const r = await measured(['features', 'publish', '--snapshot', dir, '--force']);
      expect({ status: r.status, stderr: r.stderr }).toMatchObject({
        status: 2,
        stderr: expect.stringContaining(
          `error [SNAPSHOT_CORRUPT]: ${join(dir, broken)} is not the file its build wrote`,
        ),
      });
      await expectServingUnchanged();
    },
  );

  it('serve is alive and healthy on the old snapshot at the end', async () => {
    expect(serve.proc.exitCode).toBeNull();
    const res = await fetch(`${serve.base}/healthz`);
    expect(res.status).toBe(200);
    expect(
      ((await res.json()) as { checks: { featureStore: { snapshotId: string } } }).checks.featureStore
        .snapshotId,
    ).toBe(served.snapshotId);
  });
});
