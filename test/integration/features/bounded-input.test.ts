import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import type { FeatureManifest } from '#lib/features/manifest.ts';
import { RAW_COLUMN_NAMES } from '#lib/features/raw-schema.ts';
import { measuredRun, type MeasuredRun } from '../../support/measured-run.ts';

/**
 * Issue 15, "bounded input": `credit-risk features build` as a user runs it (a child process),
 * on files that used to take the machine (17.9 GiB of RSS) or lose lines silently. The time and
 * memory bounds are the acceptance bounds, not expectations (the build takes a few seconds
 * and a few hundred MB); peak RSS is GNU time's %M where it exists, else the child's VmHWM sampled.
 */
let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cr-bounded-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Run = MeasuredRun;

/** Runs the CLI and measures its wall time and peak RSS. */
function cli(args: string[]): Promise<Run> {
  return measuredRun([resolve('bin/credit-risk.mjs'), ...args], { scratchDir: dir });
}

const GiB = 1024 ** 3;
const HEADER = RAW_COLUMN_NAMES.join(',');

function quarantineRows(out: string): Array<{ line: number; reason: string; raw: string }> {
  // Minimal CSV reading of `line,reason,raw` (raw quoted, with "" for a quote and line breaks inside).
  const text = readFileSync(join(out, 'quarantine.csv'), 'utf8');
  const rows: Array<{ line: number; reason: string; raw: string }> = [];
  const fields: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = text.indexOf('\n') + 1; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n') {
      fields.push(field);
      rows.push({ line: Number(fields[0]), reason: fields[1], raw: fields[2] });
      fields.length = 0;
      field = '';
    } else field += c;
  }
  return rows;
}

describe('features build on hostile input', () => {
  it('2,000 rows carrying 10,000 extra fields each are quarantined by their field count, within 3 GB and 60 s', async () => {
    const source = join(dir, 'source.csv');
    generateLoans({ rows: 2000, seed: 15, out: source });
    const lines = readFileSync(source, 'utf8').trimEnd().split('\n');
    const extra = ',x'.repeat(10_000);
    const wide = join(dir, 'wide.csv');
    writeFileSync(wide, [lines[0], ...lines.slice(1).map((l) => l + extra)].join('\n') + '\n');
    const out = join(dir, 'wide-out');

    const run = await cli([
      'features',
      'build',
      '--input',
      wide,
      '--out',
      out,
      '--as-of',
      '2024-01-01',
      '--json',
    ]);

    expect(run.status).toBe(0);
    expect(run.seconds).toBeLessThan(60);
    if (run.peakRss !== null) expect(run.peakRss).toBeLessThan(3 * GiB);
    expect(JSON.parse(run.stdout)).toMatchObject({
      rowsIn: 2000,
      rowsValid: 0,
      rowsQuarantined: 2000,
      byReason: { too_many_fields: 2000 },
      lines: { total: 2001, header: 1, blank: 0, valid: 0, quarantined: 2000 },
    });
    const quarantine = quarantineRows(out);
    expect(quarantine).toHaveLength(2000);
    expect(quarantine[0]).toMatchObject({ line: 2, reason: 'too_many_fields: 10024 fields, header has 24' });
    expect(quarantine.at(-1)?.line).toBe(2001);
    // The raw text is an excerpt: its first KiB, which starts like the record.
    expect(quarantine.every((q) => Buffer.byteLength(q.raw) <= 1024)).toBe(true);
    expect(quarantine[0].raw.startsWith(lines[1])).toBe(true);
    expect(run.stderr).toMatch(/2000 record\(s\) have more than twice as many fields as the header/);
    expect(run.stderr).toMatch(/all 2000 rows were quarantined: 0 valid rows/);
  });

  it('an unterminated quote on line 12 of 2,001 lines: the record is quarantined and the summary says it took 1,990 lines', async () => {
    const input = join(dir, 'open-quote.csv');
    generateLoans({ rows: 2000, seed: 16, out: input });
    const lines = readFileSync(input, 'utf8').split('\n');
    const fields = lines[11].split(',');
    fields[RAW_COLUMN_NAMES.indexOf('occupation_type')] =
      `"${fields[RAW_COLUMN_NAMES.indexOf('occupation_type')]}`;
    lines[11] = fields.join(',');
    writeFileSync(input, lines.join('\n'));
    expect(readFileSync(input, 'utf8').trimEnd().split('\n')).toHaveLength(2001);
    const out = join(dir, 'open-quote-out');

    const json = await cli([
      'features',
      'build',
      '--input',
      input,
      '--out',
      out,
      '--as-of',
      '2024-01-01',
      '--json',
    ]);
    expect(json.status).toBe(0);
    const summary = JSON.parse(json.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      rowsIn: 11,
      rowsValid: 10,
      rowsQuarantined: 1,
      byReason: { record_spans_lines: 1 },
      lines: { total: 2001, header: 1, blank: 0, valid: 10, quarantined: 1990 },
    });
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as FeatureManifest;
    expect(manifest.validation.lines).toEqual(summary.lines);
    const quarantine = quarantineRows(out);
    expect(quarantine).toEqual([
      { line: 12, reason: 'record_spans_lines: 1990 lines', raw: expect.stringMatching(/^11,/) },
    ]);
    expect(json.stderr).toMatch(/span more than 10 lines .*the first at line 12 \(1990 lines\)/);

    // The text summary says the same to a person.
    const text = await cli(['features', 'build', '--input', input, '--out', out, '--as-of', '2024-01-01']);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('11 rows in, 10 valid, 1 quarantined');
    expect(text.stdout).toContain(
      '2001 lines = 1 header + 0 blank + 10 in valid rows + 1990 in quarantined records',
    );
    expect(text.stdout).toContain('quarantined: record_spans_lines 1');
  });

  it('a header-only CSV builds an empty snapshot, with a warning on stderr', async () => {
    const input = join(dir, 'header-only.csv');
    writeFileSync(input, `${HEADER}\n`);
    const out = join(dir, 'header-only-out');

    const run = await cli([
      'features',
      'build',
      '--input',
      input,
      '--out',
      out,
      '--as-of',
      '2024-01-01',
      '--json',
    ]);

    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      rowsIn: 0,
      rowsValid: 0,
      rowsQuarantined: 0,
      lines: { total: 1, header: 1, blank: 0, valid: 0, quarantined: 0 },
    });
    expect(run.stderr).toMatch(/warning: .*header-only\.csv has a header and no rows: 0 valid rows/);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as FeatureManifest;
    expect(manifest.files.features.rows).toBe(0);
  });
});
