import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateLoans } from '#lib/data/generate.ts';
import { buildFeatures } from '#lib/features/build.ts';
import { freshHome } from '../../support/home.ts';

/**
 * The publish guards, the snapshot audit log, `features history`, `features rollback` and
 * `features publish --id` through the CLI, each command its own process (as a person runs them)
 * over one fresh home: real builds (DuckDB), the directory object store and PGlite.
 */
function cli(home: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/credit-risk.mjs', ...args], {
    encoding: 'utf8',
    env: { ...process.env, CREDIT_RISK_HOME: home },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const AS_OF = '2022-01-01';

interface HistoryRow {
  seq: number | null;
  action: string;
  forced: boolean;
  snapshotId: string;
  previousSnapshotId: string | null;
  customers: number | null;
  quarantined: number | null;
  publisher: string | null;
  reason: string | null;
  overridden: { guard: string }[];
  current: boolean;
}

describe('credit-risk features publish guards, history, rollback (CLI, real PGlite under a fresh home)', () => {
  const home = freshHome('cr-guards-cli-').root;
  const work = mkdtempSync(join(tmpdir(), 'cr-guards-cli-work-'));
  const dirs: Record<'a' | 'b' | 'empty' | 'bad', string> = { a: '', b: '', empty: '', bad: '' };
  const ids: Record<'a' | 'b' | 'empty' | 'bad', string> = { a: '', b: '', empty: '', bad: '' };
  let knownId = '';

  const current = () =>
    JSON.parse(cli(home, 'features', 'current').stdout) as {
      offline: { snapshotId: string } | null;
      online: string | null;
    };
  const get = (id: string) => cli(home, 'features', 'get', '--id', id, '--as-of', AS_OF);
  const history = () => JSON.parse(cli(home, 'features', 'history', '--json').stdout) as HistoryRow[];

  beforeAll(async () => {
    const a = join(work, 'a.csv');
    generateLoans({ rows: 2000, seed: 1, out: a, startDate: '2020-01-01', years: 1 });
    const b = join(work, 'b.csv');
    generateLoans({ rows: 2000, seed: 2, out: b, startDate: '2020-01-01', years: 1 });
    // A header-only file, and one whose every row is quarantined (ids not numbers).
    const header = readFileSync(a, 'utf8').split('\n')[0];
    const empty = join(work, 'empty.csv');
    writeFileSync(empty, `${header}\n`);
    const bad = join(work, 'bad.csv');
    const lines = readFileSync(a, 'utf8').trim().split('\n').slice(1, 50);
    writeFileSync(bad, `${header}\n${lines.map((l) => l.replace(/^[^,]*,[^,]*/, 'x,y')).join('\n')}\n`);
    knownId = readFileSync(a, 'utf8').split('\n')[1].split(',')[1];
    for (const [name, input] of [
      ['a', a],
      ['b', b],
      ['empty', empty],
      ['bad', bad],
    ] as const) {
      dirs[name] = join(work, `snap-${name}`);
      ids[name] = (await buildFeatures({ input, outDir: dirs[name], asOf: AS_OF })).snapshotId;
    }
  }, 120_000);

  it('refuses a header-only snapshot with exit 2, writes nothing, and the previous snapshot is still served', () => {
    expect(cli(home, 'features', 'publish', '--snapshot', dirs.a).code).toBe(0);
    expect(JSON.parse(get(knownId).stdout).snapshotId).toBe(ids.a);

    const refused = cli(home, 'features', 'publish', '--snapshot', dirs.empty);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`error [PUBLISH_REFUSED]: publish of snapshot ${ids.empty} refused`);
    expect(refused.stderr).toContain('no_customers: snapshot');
    expect(refused.stderr).toContain('has no valid customers (0 online rows): 0 rows in, 0 quarantined');

    const allBad = cli(home, 'features', 'publish', '--snapshot', dirs.bad, '--json');
    expect(allBad.code).toBe(2);
    const error = JSON.parse(allBad.stderr.trim().split('\n').at(-1) as string) as {
      error: { code: string; reasons: { guard: string }[] };
    };
    expect(error.error.code).toBe('PUBLISH_REFUSED');
    expect(error.error.reasons.map((r) => r.guard)).toEqual(['no_customers', 'quarantine_rate']);

    const got = get(knownId);
    expect(got.code).toBe(0);
    expect(JSON.parse(got.stdout).snapshotId).toBe(ids.a);
    expect(current()).toMatchObject({ offline: { snapshotId: ids.a }, online: ids.a });
    // Nothing of the refused snapshots reached the offline store.
    expect(history().map((r) => r.snapshotId)).toEqual([ids.a]);
    expect(cli(home, 'features', 'rollback', '--to', ids.empty).stderr).toContain(
      'error [SNAPSHOT_NOT_FOUND]',
    );
  });

  it('a bad guard flag is exit 2 before anything opens; --force publishes and is audited with what it overrode', () => {
    const flag = cli(home, 'features', 'publish', '--snapshot', dirs.empty, '--min-customer-share', '2');
    expect(flag.code).toBe(2);
    expect(flag.stderr).toContain(
      'error [BAD_PUBLISH_GUARD]: --min-customer-share must be a number from 0 to 1',
    );

    expect(cli(home, 'features', 'publish', '--snapshot', dirs.b).code).toBe(0);
    const forced = cli(
      home,
      'features',
      'publish',
      '--snapshot',
      dirs.empty,
      '--force',
      '--reason',
      'testing the guards',
    );
    expect(forced.code).toBe(0);
    expect(forced.stderr).toContain('FORCED past no_customers (audited)');
    expect(current()).toMatchObject({ offline: { snapshotId: ids.empty }, online: ids.empty });
    expect(get(knownId).stderr).toContain('error [UNKNOWN_CUSTOMER]');

    const [newest] = history();
    expect(newest).toMatchObject({
      action: 'publish',
      forced: true,
      snapshotId: ids.empty,
      previousSnapshotId: ids.b,
      customers: 0,
      quarantined: 0,
      reason: 'testing the guards',
      current: true,
    });
    expect(newest.overridden.map((r) => r.guard)).toEqual(['no_customers']);
    expect(newest.publisher).toMatch(
      /^.+@.+: credit-risk features publish --snapshot .* --force --reason testing the guards$/,
    );
  });

  it('rollback restores the snapshot current before (CURRENT and the online store), twice goes two back', () => {
    const back = cli(home, 'features', 'rollback', '--reason', 'empty file');
    expect(back.code).toBe(0);
    expect(back.stderr).toContain(`rolled back ${ids.empty} -> ${ids.b} (online store and CURRENT)`);
    expect(current()).toMatchObject({ offline: { snapshotId: ids.b }, online: ids.b });
    expect(JSON.parse(get(knownId).stdout).snapshotId).toBe(ids.b);

    const again = cli(home, 'features', 'rollback', '--json');
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      action: 'rollback',
      snapshotId: ids.a,
      previousSnapshotId: ids.b,
      onlineRows: expect.any(Number),
      audit: { action: 'rollback', reason: 'rolled back from the command line', earlier: [] },
    });
    expect(current()).toMatchObject({ offline: { snapshotId: ids.a }, online: ids.a });
    expect(JSON.parse(get(knownId).stdout).snapshotId).toBe(ids.a);

    // Nothing earlier than the first publish: a clear error naming what is stored.
    const none = cli(home, 'features', 'rollback');
    expect(none.stderr).toContain('error [NO_ROLLBACK_TARGET]');
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(ids.b);
    // Never back to an empty snapshot without --force.
    const toEmpty = cli(home, 'features', 'rollback', '--to', ids.empty);
    expect(toEmpty.code).toBe(2);
    expect(toEmpty.stderr).toContain('error [PUBLISH_REFUSED]: rollback of snapshot');
    expect(current()).toMatchObject({ offline: { snapshotId: ids.a }, online: ids.a });
  });

  it('republishes a stored snapshot by id and from its stored folder', () => {
    const byId = cli(home, 'features', 'publish', '--id', ids.b, '--json');
    expect(byId.code).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({
      snapshotId: ids.b,
      action: 'publish',
      objectsWritten: [],
      alreadyCurrent: false,
    });
    expect(current()).toMatchObject({ offline: { snapshotId: ids.b }, online: ids.b });

    const folder = join(home, 'store', 'features', `snapshot=${ids.a}`);
    const fromFolder = cli(home, 'features', 'publish', '--snapshot', folder, '--json');
    expect(fromFolder.code).toBe(0);
    expect(JSON.parse(fromFolder.stdout)).toMatchObject({ snapshotId: ids.a, objectsWritten: [] });
    expect(current()).toMatchObject({ offline: { snapshotId: ids.a }, online: ids.a });
    expect(JSON.parse(get(knownId).stdout).snapshotId).toBe(ids.a);

    const neither = cli(home, 'features', 'publish');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('error [BAD_ARGUMENTS]');
  });

  it('history lists every publish, forced publish and rollback, newest first, CURRENT marked', () => {
    const rows = history();
    expect(rows.map((r) => [r.action, r.forced, r.snapshotId, r.current])).toEqual([
      ['publish', false, ids.a, true],
      ['publish', false, ids.b, false],
      ['rollback', false, ids.a, false],
      ['rollback', false, ids.b, false],
      ['publish', true, ids.empty, false],
      ['publish', false, ids.b, false],
      ['publish', false, ids.a, false],
    ]);
    expect(rows.every((r) => r.customers !== null && r.seq !== null)).toBe(true);
    const table = cli(home, 'features', 'history').stdout.split('\n');
    expect(table[0]).toMatch(/^\s+AT\s+SNAPSHOT\s+ACTION\s+ROWS\s+CUSTOMERS\s+QUARANTINED\s+PUBLISHER$/);
    expect(table[1]).toMatch(new RegExp(`^\\*\\s+\\S+\\s+${ids.a}\\s+publish\\s`));
    expect(table[5]).toMatch(new RegExp(`^\\s+\\S+\\s+${ids.empty}\\s+forced\\s+0\\s+0\\s+0\\s`));
  });

  it('a stored snapshot without online rows (published before they were kept) is not restorable, with the way out', () => {
    rmSync(join(home, 'store', 'features', `snapshot=${ids.b}`, 'online.parquet'));
    const r = cli(home, 'features', 'rollback', '--to', ids.b);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error [SNAPSHOT_NOT_RESTORABLE]: snapshot ${ids.b} has no online rows`);
    expect(r.stderr).toContain(`credit-risk features build --input ${join(work, 'b.csv')} --as-of ${AS_OF}`);
    expect(current()).toMatchObject({ offline: { snapshotId: ids.a }, online: ids.a });
  });

  it('--help teaches the guards, their flags and the new commands', () => {
    const publish = cli(home, 'features', 'publish', '--help').stdout;
    for (const s of ['--min-customer-share', '--max-quarantine-rate', '--force', '--id', 'PUBLISH_REFUSED'])
      expect(publish).toContain(s);
    expect(cli(home, 'features', 'rollback', '--help').stdout).toContain(
      'credit-risk features rollback --to',
    );
    expect(cli(home, 'features', 'history', '--help').stdout).toContain(
      'credit-risk features history --json',
    );
  });
});
